/* CONV_2D with the arithmetic of TFLite Micro's reference kernels (ConvPerChannel, Conv).
 *
 * Each output pixel's filter patch is either read in place (interior pixels of 1x1 / 1xK convolutions)
 * or gathered into scratch (im2col) with padded taps reading as the input zero point (0.0 for float).
 * Pixels go two at a time through a kernel that also takes two output channels at a time, so every
 * loaded input and weight value feeds two multiply-accumulates. */
#include <string.h>
#include "mc_kernels.h"

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#define MC_CONV_SIMD 1
/* Four int8 values as one (possibly unaligned) word; Cortex-M4 LDR allows unaligned addresses. */
static inline int32_t load4(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}
/* Bytes 0 and 2 (even) or 1 and 3 (odd) sign-extended into two int16 lanes: SMLAD then sums the
 * products of matching lanes, and even + odd together cover all four values in any order. */
#define EVEN(v) __sxtb16(v)
#define ODD(v) __sxtb16(((uint32_t)(v) >> 8) | ((uint32_t)(v) << 24))
#endif

void mc_conv_patch(const mc_conv_geom_t *g, const void *image, int32_t oy, int32_t ox,
                   int32_t elem_size, uint8_t pad, void *buf) {
  const uint8_t *img = (const uint8_t *)image;
  uint8_t *dst = (uint8_t *)buf;
  const int32_t pixel = g->in_c * elem_size, row = g->k_w * pixel;
  const int32_t iy0 = oy * g->stride_h - g->pad_top, ix0 = ox * g->stride_w - g->pad_left;
  const int row_inside = ix0 >= 0 && ix0 + (g->k_w - 1) * g->dil_w < g->in_w;
  int32_t ky, kx;
  for (ky = 0; ky < g->k_h; ++ky, dst += row) {
    const int32_t iy = iy0 + ky * g->dil_h;
    if (iy < 0 || iy >= g->in_h) {
      memset(dst, pad, (size_t)row);
    } else if (row_inside && g->dil_w == 1) {
      memcpy(dst, img + ((size_t)iy * g->in_w + ix0) * pixel, (size_t)row);
    } else {
      for (kx = 0; kx < g->k_w; ++kx) {
        const int32_t ix = ix0 + kx * g->dil_w;
        if (ix < 0 || ix >= g->in_w)
          memset(dst + kx * pixel, pad, (size_t)pixel);
        else
          memcpy(dst + kx * pixel, img + ((size_t)iy * g->in_w + ix) * pixel, (size_t)pixel);
      }
    }
  }
}

static int is_interior(const mc_conv_geom_t *g, int32_t oy, int32_t ox) {
  return oy >= g->oy_begin && oy < g->oy_end && ox >= g->ox_begin && ox < g->ox_end;
}

/* The patch of pixel (oy, ox): in place when contiguous and unpadded, else gathered into buf. */
static const void *patch_of(const mc_conv_geom_t *g, const void *image, int32_t oy, int32_t ox,
                            int32_t elem_size, uint8_t pad, void *buf) {
  if (g->direct && is_interior(g, oy, ox)) {
    const int32_t iy = oy * g->stride_h - g->pad_top, ix = ox * g->stride_w - g->pad_left;
    return (const uint8_t *)image + ((size_t)iy * g->in_w + ix) * g->in_c * elem_size;
  }
  mc_conv_patch(g, image, oy, ox, elem_size, pad, buf);
  return buf;
}

/* ---- int8 ---- */

static inline int8_t requant_s8(const mc_conv2d_s8_t *p, int32_t acc, int32_t oc) {
  acc = mc_requantize(acc, p->multiplier[oc], p->shift[oc]) + p->out_zp;
  return mc_clamp_s8(acc, p->act_min, p->act_max);
}

/* Two pixels (patches a0, a1 of n values) through every output channel. a1 may equal a0. */
static void conv_2px_s8(const mc_conv2d_s8_t *p, int32_t n, const int8_t *a0, const int8_t *a1,
                        int8_t *o0, int8_t *o1) {
  const int32_t out_c = p->g.out_c;
  int32_t oc, i;
  for (oc = 0; oc + 1 < out_c; oc += 2) {
    const int8_t *w0 = p->weights + (size_t)oc * n, *w1 = w0 + n;
    int32_t s00 = p->bias[oc], s01 = s00, s10 = p->bias[oc + 1], s11 = s10;
    i = 0;
#ifdef MC_CONV_SIMD
    for (; i + 4 <= n; i += 4) {
      const int32_t x0 = load4(a0 + i), x1 = load4(a1 + i), k0 = load4(w0 + i), k1 = load4(w1 + i);
      const int32_t x0e = EVEN(x0), x0o = ODD(x0), x1e = EVEN(x1), x1o = ODD(x1);
      const int32_t k0e = EVEN(k0), k0o = ODD(k0), k1e = EVEN(k1), k1o = ODD(k1);
      s00 = __smlad(x0e, k0e, __smlad(x0o, k0o, s00));
      s01 = __smlad(x1e, k0e, __smlad(x1o, k0o, s01));
      s10 = __smlad(x0e, k1e, __smlad(x0o, k1o, s10));
      s11 = __smlad(x1e, k1e, __smlad(x1o, k1o, s11));
    }
#endif
    for (; i < n; ++i) {
      const int32_t x0 = a0[i], x1 = a1[i], k0 = w0[i], k1 = w1[i];
      s00 += k0 * x0;
      s01 += k0 * x1;
      s10 += k1 * x0;
      s11 += k1 * x1;
    }
    o0[oc] = requant_s8(p, s00, oc);
    o0[oc + 1] = requant_s8(p, s10, oc + 1);
    o1[oc] = requant_s8(p, s01, oc);
    o1[oc + 1] = requant_s8(p, s11, oc + 1);
  }
  if (oc < out_c) {
    const int8_t *w0 = p->weights + (size_t)oc * n;
    int32_t s00 = p->bias[oc], s01 = s00;
    i = 0;
#ifdef MC_CONV_SIMD
    for (; i + 4 <= n; i += 4) {
      const int32_t x0 = load4(a0 + i), x1 = load4(a1 + i), k0 = load4(w0 + i);
      const int32_t k0e = EVEN(k0), k0o = ODD(k0);
      s00 = __smlad(EVEN(x0), k0e, __smlad(ODD(x0), k0o, s00));
      s01 = __smlad(EVEN(x1), k0e, __smlad(ODD(x1), k0o, s01));
    }
#endif
    for (; i < n; ++i) {
      s00 += w0[i] * a0[i];
      s01 += w0[i] * a1[i];
    }
    o0[oc] = requant_s8(p, s00, oc);
    o1[oc] = requant_s8(p, s01, oc);
  }
}

void mc_conv2d_s8(const mc_conv2d_s8_t *p, const int8_t *in, int8_t *out, void *scratch) {
  const mc_conv_geom_t *g = &p->g;
  const int32_t n = g->k_h * g->k_w * g->in_c;
  const uint8_t pad = (uint8_t)(int8_t)p->in_zp;
  int8_t *buf[2];
  int32_t b, oy, ox;
  buf[0] = (int8_t *)scratch;
  buf[1] = buf[0] ? buf[0] + n : 0;
  for (b = 0; b < g->batches; ++b) {
    const int8_t *image = in + (size_t)b * g->in_h * g->in_w * g->in_c;
    int8_t *y = out + (size_t)b * g->out_h * g->out_w * g->out_c;
    const int8_t *held = 0; /* a pixel's patch waiting for a partner */
    int8_t *held_out = 0;
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox) {
        int8_t *o = y + ((size_t)oy * g->out_w + ox) * g->out_c;
        const int8_t *a = (const int8_t *)patch_of(g, image, oy, ox, 1, pad, buf[held != 0]);
        if (held) {
          conv_2px_s8(p, n, held, a, held_out, o);
          held = 0;
        } else {
          held = a;
          held_out = o;
        }
      }
    }
    if (held) { /* odd pixel count: the last pixel alone (computed twice into the same place) */
      conv_2px_s8(p, n, held, held, held_out, held_out);
    }
  }
}

/* ---- float32 ---- */

static void conv_2px_f32(const mc_conv2d_f32_t *p, int32_t n, const float *a0, const float *a1,
                         float *o0, float *o1) {
  const int32_t out_c = p->g.out_c;
  const float lo = p->act_min, hi = p->act_max;
  int32_t oc, i;
  for (oc = 0; oc + 1 < out_c; oc += 2) {
    const float *w0 = p->weights + (size_t)oc * n, *w1 = w0 + n;
    float s00 = 0.0f, s01 = 0.0f, s10 = 0.0f, s11 = 0.0f;
    for (i = 0; i < n; ++i) {
      const float x0 = a0[i], x1 = a1[i], k0 = w0[i], k1 = w1[i];
      s00 += x0 * k0;
      s01 += x1 * k0;
      s10 += x0 * k1;
      s11 += x1 * k1;
    }
    o0[oc] = mc_clamp_f32(s00 + p->bias[oc], lo, hi);
    o0[oc + 1] = mc_clamp_f32(s10 + p->bias[oc + 1], lo, hi);
    o1[oc] = mc_clamp_f32(s01 + p->bias[oc], lo, hi);
    o1[oc + 1] = mc_clamp_f32(s11 + p->bias[oc + 1], lo, hi);
  }
  if (oc < out_c) {
    const float *w0 = p->weights + (size_t)oc * n;
    float s00 = 0.0f, s01 = 0.0f;
    for (i = 0; i < n; ++i) {
      s00 += a0[i] * w0[i];
      s01 += a1[i] * w0[i];
    }
    o0[oc] = mc_clamp_f32(s00 + p->bias[oc], lo, hi);
    o1[oc] = mc_clamp_f32(s01 + p->bias[oc], lo, hi);
  }
}

void mc_conv2d_f32(const mc_conv2d_f32_t *p, const float *in, float *out, void *scratch) {
  const mc_conv_geom_t *g = &p->g;
  const int32_t n = g->k_h * g->k_w * g->in_c;
  float *buf[2];
  int32_t b, oy, ox;
  buf[0] = (float *)scratch;
  buf[1] = buf[0] ? buf[0] + n : 0;
  for (b = 0; b < g->batches; ++b) {
    const float *image = in + (size_t)b * g->in_h * g->in_w * g->in_c;
    float *y = out + (size_t)b * g->out_h * g->out_w * g->out_c;
    const float *held = 0;
    float *held_out = 0;
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox) {
        float *o = y + ((size_t)oy * g->out_w + ox) * g->out_c;
        const float *a = (const float *)patch_of(g, image, oy, ox, 4, 0, buf[held != 0]);
        if (held) {
          conv_2px_f32(p, n, held, a, held_out, o);
          held = 0;
        } else {
          held = a;
          held_out = o;
        }
      }
    }
    if (held) conv_2px_f32(p, n, held, held, held_out, held_out);
  }
}
