/* DEPTHWISE_CONV_2D with the arithmetic of TFLite Micro's reference kernels (DepthwiseConvPerChannel,
 * DepthwiseConv).
 *
 * An interior pixel reads its taps in place (tap stride dil_w*in_c, row stride dil_h*in_w*in_c); a
 * border pixel's patch is first gathered into scratch with padded taps reading as the input zero
 * point (0.0 for float), which the folded bias cancels exactly, then read the same way. */
#include "mc_kernels.h"

typedef struct {
  const void *base;    /* tap (0, 0), channel 0 */
  int32_t tap, row;    /* value strides between taps of a filter row, and between filter rows */
} taps_t;

static taps_t taps_of(const mc_conv_geom_t *g, const void *image, int32_t oy, int32_t ox,
                      int32_t elem_size, uint8_t pad, void *buf) {
  taps_t t;
  if (oy >= g->oy_begin && oy < g->oy_end && ox >= g->ox_begin && ox < g->ox_end) {
    const int32_t iy = oy * g->stride_h - g->pad_top, ix = ox * g->stride_w - g->pad_left;
    t.base = (const uint8_t *)image + ((size_t)iy * g->in_w + ix) * g->in_c * elem_size;
    t.tap = g->dil_w * g->in_c;
    t.row = g->dil_h * g->in_w * g->in_c;
  } else {
    mc_conv_patch(g, image, oy, ox, elem_size, pad, buf);
    t.base = buf;
    t.tap = g->in_c;
    t.row = g->k_w * g->in_c;
  }
  return t;
}

/* ---- int8 ---- */

static inline int8_t requant_s8(const mc_dwconv_s8_t *p, int32_t acc, int32_t c) {
  acc = mc_requantize(acc, p->multiplier[c], p->shift[c]) + p->out_zp;
  return mc_clamp_s8(acc, p->act_min, p->act_max);
}

/* Depth multiplier 1: four channels at a time, taps inner. */
static void dw_pixel_m1_s8(const mc_dwconv_s8_t *p, taps_t t, int8_t *o) {
  const int32_t C = p->g.out_c, kh = p->g.k_h, kw = p->g.k_w;
  const int8_t *x0 = (const int8_t *)t.base;
  int32_t c, ky, kx;
  for (c = 0; c + 3 < C; c += 4) {
    int32_t s0 = p->bias[c], s1 = p->bias[c + 1], s2 = p->bias[c + 2], s3 = p->bias[c + 3];
    const int8_t *w = p->weights + c;
    for (ky = 0; ky < kh; ++ky) {
      const int8_t *x = x0 + c + ky * t.row;
      for (kx = 0; kx < kw; ++kx, x += t.tap, w += C) {
        s0 += x[0] * w[0];
        s1 += x[1] * w[1];
        s2 += x[2] * w[2];
        s3 += x[3] * w[3];
      }
    }
    o[c] = requant_s8(p, s0, c);
    o[c + 1] = requant_s8(p, s1, c + 1);
    o[c + 2] = requant_s8(p, s2, c + 2);
    o[c + 3] = requant_s8(p, s3, c + 3);
  }
  for (; c < C; ++c) {
    int32_t s = p->bias[c];
    const int8_t *w = p->weights + c;
    for (ky = 0; ky < kh; ++ky) {
      const int8_t *x = x0 + c + ky * t.row;
      for (kx = 0; kx < kw; ++kx, x += t.tap, w += C) s += x[0] * w[0];
    }
    o[c] = requant_s8(p, s, c);
  }
}

/* Any depth multiplier: output channel c reads input channel c / depth_mult. */
static void dw_pixel_s8(const mc_dwconv_s8_t *p, taps_t t, int8_t *o) {
  const int32_t C = p->g.out_c, kh = p->g.k_h, kw = p->g.k_w, m = p->depth_mult;
  int32_t c, ky, kx;
  for (c = 0; c < C; ++c) {
    int32_t s = p->bias[c];
    const int8_t *w = p->weights + c;
    const int8_t *x0 = (const int8_t *)t.base + c / m;
    for (ky = 0; ky < kh; ++ky) {
      const int8_t *x = x0 + ky * t.row;
      for (kx = 0; kx < kw; ++kx, x += t.tap, w += C) s += x[0] * w[0];
    }
    o[c] = requant_s8(p, s, c);
  }
}

void mc_depthwise_conv2d_s8(const mc_dwconv_s8_t *p, const int8_t *in, int8_t *out, void *scratch) {
  const mc_conv_geom_t *g = &p->g;
  const uint8_t pad = (uint8_t)(int8_t)p->in_zp;
  int32_t b, oy, ox;
  for (b = 0; b < g->batches; ++b) {
    const int8_t *image = in + (size_t)b * g->in_h * g->in_w * g->in_c;
    int8_t *o = out + (size_t)b * g->out_h * g->out_w * g->out_c;
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox, o += g->out_c) {
        const taps_t t = taps_of(g, image, oy, ox, 1, pad, scratch);
        if (p->depth_mult == 1)
          dw_pixel_m1_s8(p, t, o);
        else
          dw_pixel_s8(p, t, o);
      }
    }
  }
}

/* ---- float32: each channel sums its taps in (ky, kx) order, then adds the bias, as TFLM ---- */

static void dw_pixel_f32(const mc_dwconv_f32_t *p, taps_t t, float *o) {
  const int32_t C = p->g.out_c, kh = p->g.k_h, kw = p->g.k_w, m = p->depth_mult;
  int32_t c, ky, kx;
  for (c = 0; c < C; ++c) {
    float s = 0.0f;
    const float *w = p->weights + c;
    const float *x0 = (const float *)t.base + c / m;
    for (ky = 0; ky < kh; ++ky) {
      const float *x = x0 + ky * t.row;
      for (kx = 0; kx < kw; ++kx, x += t.tap, w += C) s += x[0] * w[0];
    }
    o[c] = mc_clamp_f32(s + p->bias[c], p->act_min, p->act_max);
  }
}

void mc_depthwise_conv2d_f32(const mc_dwconv_f32_t *p, const float *in, float *out, void *scratch) {
  const mc_conv_geom_t *g = &p->g;
  int32_t b, oy, ox;
  for (b = 0; b < g->batches; ++b) {
    const float *image = in + (size_t)b * g->in_h * g->in_w * g->in_c;
    float *o = out + (size_t)b * g->out_h * g->out_w * g->out_c;
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox, o += g->out_c) {
        dw_pixel_f32(p, taps_of(g, image, oy, ox, 4, 0, scratch), o);
      }
    }
  }
}
