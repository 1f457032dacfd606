/* The pixel loop of the Helium convolutions (mc_mve_pixels, mc_mve.h): output pixels paired, the
 * border ones gathered with the input zero point in their padded taps. */
#define MC_MVE_IMPL
#include "mc_kernels.h"

#ifdef __ARM_FEATURE_MVE

/* Whole vectors: up to 15 bytes past n are read and written; the gather writes in order, so the
 * next part overwrites them, and the patch buffers have 16 bytes of slack. */
static void copy_s8(int8_t *dst, const int8_t *src, int32_t n) {
  for (; n > 0; n -= 16, dst += 16, src += 16) vstrbq_s8(dst, vldrbq_s8(src));
}

static void fill_s8(int8_t *dst, int8x16_t v, int32_t n) {
  for (; n > 0; n -= 16, dst += 16) vstrbq_s8(dst, v);
}

/* The k_h*k_w*in_c taps of pixel (oy, ox) in filter order, the padded ones set to the zero point. */
static void gather_s8(const mc_conv_geom_t *g, int8x16_t zp, const int8_t *image, int32_t oy, int32_t ox,
                      int8_t *patch) {
  const mc_conv_window_t w = mc_conv_window(g, oy, ox);
  const int32_t c = g->in_c, row = g->k_w * c, row_step = g->dil_h * g->in_w * c;
  int32_t ky, kx;
  for (ky = 0; ky < g->k_h; ++ky, patch += row) {
    const int32_t at = w.origin + ky * row_step; /* tap (ky, 0), maybe outside */
    if (ky < w.ky0 || ky >= w.ky1) {
      fill_s8(patch, zp, row);
    } else if (g->dil_w == 1) {
      fill_s8(patch, zp, w.kx0 * c);
      copy_s8(patch + w.kx0 * c, image + (at + w.kx0 * c), (w.kx1 - w.kx0) * c);
      fill_s8(patch + w.kx1 * c, zp, (g->k_w - w.kx1) * c);
    } else {
      for (kx = 0; kx < g->k_w; ++kx) {
        if (kx < w.kx0 || kx >= w.kx1)
          fill_s8(patch + kx * c, zp, c);
        else
          copy_s8(patch + kx * c, image + (at + kx * g->dil_w * c), c);
      }
    }
  }
}

void mc_mve_pixels(const mc_conv_geom_t *g, int32_t in_zp, int gather_all, const int8_t *in, int8_t *out,
                   mc_mve_pair_fn fn, const void *p) {
  const int8x16_t zp = vdupq_n_s8((int8_t)in_zp);
  const int32_t col_step = g->stride_w * g->in_c, row_step = g->stride_h * g->in_w * g->in_c;
  int8_t patch[2][MC_MVE_PATCH_MAX + 16];
  int32_t b, oy, ox;
  for (b = 0; b < g->batches; ++b) {
    const int8_t *image = in + (size_t)b * g->in_h * g->in_w * g->in_c;
    int8_t *o = out + (size_t)b * g->out_h * g->out_w * g->out_c;
    const int8_t *held = 0; /* an interior pixel waiting for a partner, and its output */
    int8_t *held_out = 0, *gathered_out = 0; /* the output of a gathered patch[0] waiting */
    /* tap (0, 0) of pixel (oy, 0), maybe outside the image */
    int32_t row_origin = (-g->pad_top * g->in_w - g->pad_left) * g->in_c;
    for (oy = 0; oy < g->out_h; ++oy, row_origin += row_step) {
      const int row_inside = !gather_all && oy >= g->oy_begin && oy < g->oy_end;
      for (ox = 0; ox < g->out_w; ++ox, o += g->out_c) {
        if (row_inside && ox >= g->ox_begin && ox < g->ox_end) {
          const int8_t *x = image + (row_origin + ox * col_step);
          if (held) {
            fn(p, held, x, held_out, o, 0);
            held = 0;
          } else {
            held = x;
            held_out = o;
          }
        } else {
          gather_s8(g, zp, image, oy, ox, patch[gathered_out != 0]);
          if (gathered_out) {
            fn(p, patch[0], patch[1], gathered_out, o, 1);
            gathered_out = 0;
          } else {
            gathered_out = o;
          }
        }
      }
    }
    if (gathered_out) fn(p, patch[0], 0, gathered_out, 0, 1);
    if (held) fn(p, held, 0, held_out, 0, 0);
  }
}

#endif
