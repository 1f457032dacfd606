/* DEPTHWISE_CONV_2D with the arithmetic of TFLite Micro's reference kernels (DepthwiseConvPerChannel,
 * DepthwiseConv).
 *
 * Every pixel reads its taps in place through a list of tap pointers; a padded tap points at a row of
 * input zero points (0.0 for float), which the folded bias cancels exactly, as TFLM's skipping it.
 * Nothing is copied. */
#include "mc_kernels.h"

/* Points tp[ky * k_w + kx] at tap (ky, kx) of output pixel (oy, ox): its in_c input values, or
 * `pad_row` (in_c copies of the padding value) where the tap falls outside the image. */
static void tap_pointers(const mc_conv_geom_t *g, const void *image, int32_t oy, int32_t ox,
                         int32_t elem_size, const void *pad_row, const void **tp) {
  const int32_t pixel = g->in_c * elem_size;
  const int32_t iy0 = oy * g->stride_h - g->pad_top, ix0 = ox * g->stride_w - g->pad_left;
  int32_t ky, kx;
  for (ky = 0; ky < g->k_h; ++ky) {
    const int32_t iy = iy0 + ky * g->dil_h;
    for (kx = 0; kx < g->k_w; ++kx) {
      const int32_t ix = ix0 + kx * g->dil_w;
      const int inside = iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w;
      *tp++ = inside ? (const uint8_t *)image + ((size_t)iy * g->in_w + ix) * pixel : pad_row;
    }
  }
}

/* Scratch: the tap pointers of one pixel, then one pixel's worth of padding values. */
static const void **scratch_taps(void *scratch) { return (const void **)scratch; }

static void *scratch_pad_row(const mc_conv_geom_t *g, void *scratch) {
  return (uint8_t *)scratch + (size_t)g->k_h * g->k_w * sizeof(void *);
}

/* ---- int8 ---- */

static inline int8_t requant_s8(const mc_dwconv_s8_t *p, int32_t acc, int32_t c) {
  acc = mc_requantize(acc, p->multiplier[c], p->shift[c]) + p->out_zp;
  return mc_clamp_s8(acc, p->act_min, p->act_max);
}

/* Depth multiplier 1: four channels at a time, taps inner. */
static void dw_pixel_m1_s8(const mc_dwconv_s8_t *p, const int8_t *const *tp, int8_t *o) {
  const int32_t C = p->g.out_c, taps = p->g.k_h * p->g.k_w;
  int32_t c, t;
  for (c = 0; c + 3 < C; c += 4) {
    int32_t s0 = p->bias[c], s1 = p->bias[c + 1], s2 = p->bias[c + 2], s3 = p->bias[c + 3];
    const int8_t *w = p->weights + c;
    for (t = 0; t < taps; ++t, w += C) {
      const int8_t *x = tp[t] + c;
      s0 += x[0] * w[0];
      s1 += x[1] * w[1];
      s2 += x[2] * w[2];
      s3 += x[3] * w[3];
    }
    o[c] = requant_s8(p, s0, c);
    o[c + 1] = requant_s8(p, s1, c + 1);
    o[c + 2] = requant_s8(p, s2, c + 2);
    o[c + 3] = requant_s8(p, s3, c + 3);
  }
  for (; c < C; ++c) {
    int32_t s = p->bias[c];
    const int8_t *w = p->weights + c;
    for (t = 0; t < taps; ++t, w += C) s += tp[t][c] * w[0];
    o[c] = requant_s8(p, s, c);
  }
}

/* Any depth multiplier: output channel c reads input channel c / depth_mult. */
static void dw_pixel_s8(const mc_dwconv_s8_t *p, const int8_t *const *tp, int8_t *o) {
  const int32_t C = p->g.out_c, taps = p->g.k_h * p->g.k_w, m = p->depth_mult;
  int32_t c, t;
  for (c = 0; c < C; ++c) {
    const int32_t ic = c / m;
    const int8_t *w = p->weights + c;
    int32_t s = p->bias[c];
    for (t = 0; t < taps; ++t, w += C) s += tp[t][ic] * w[0];
    o[c] = requant_s8(p, s, c);
  }
}

void mc_depthwise_conv2d_s8(const mc_dwconv_s8_t *p, const int8_t *in, int8_t *out, void *scratch) {
  const mc_conv_geom_t *g = &p->g;
  const int8_t **tp = (const int8_t **)scratch_taps(scratch);
  int8_t *pad_row = (int8_t *)scratch_pad_row(g, scratch);
  int32_t b, oy, ox, i;
  for (i = 0; i < g->in_c; ++i) pad_row[i] = (int8_t)p->in_zp;
  for (b = 0; b < g->batches; ++b) {
    const int8_t *image = in + (size_t)b * g->in_h * g->in_w * g->in_c;
    int8_t *o = out + (size_t)b * g->out_h * g->out_w * g->out_c;
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox, o += g->out_c) {
        tap_pointers(g, image, oy, ox, 1, pad_row, (const void **)tp);
        if (p->depth_mult == 1)
          dw_pixel_m1_s8(p, tp, o);
        else
          dw_pixel_s8(p, tp, o);
      }
    }
  }
}

/* ---- float32: each channel sums its taps in (ky, kx) order, then adds the bias, as TFLM ---- */

static void dw_pixel_f32(const mc_dwconv_f32_t *p, const float *const *tp, float *o) {
  const int32_t C = p->g.out_c, taps = p->g.k_h * p->g.k_w, m = p->depth_mult;
  int32_t c, t;
  for (c = 0; c < C; ++c) {
    const int32_t ic = c / m;
    const float *w = p->weights + c;
    float s = 0.0f;
    for (t = 0; t < taps; ++t, w += C) s += tp[t][ic] * w[0];
    o[c] = mc_clamp_f32(s + p->bias[c], p->act_min, p->act_max);
  }
}

void mc_depthwise_conv2d_f32(const mc_dwconv_f32_t *p, const float *in, float *out, void *scratch) {
  const mc_conv_geom_t *g = &p->g;
  const float **tp = (const float **)scratch_taps(scratch);
  float *pad_row = (float *)scratch_pad_row(g, scratch);
  int32_t b, oy, ox, i;
  for (i = 0; i < g->in_c; ++i) pad_row[i] = 0.0f;
  for (b = 0; b < g->batches; ++b) {
    const float *image = in + (size_t)b * g->in_h * g->in_w * g->in_c;
    float *o = out + (size_t)b * g->out_h * g->out_w * g->out_c;
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox, o += g->out_c) {
        tap_pointers(g, image, oy, ox, 4, pad_row, (const void **)tp);
        dw_pixel_f32(p, tp, o);
      }
    }
  }
}
