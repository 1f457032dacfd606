/* The 16x8 convolutions (int16 activations, int8 weights) and TRANSPOSE_CONV (int8, int16, float32),
 * with the arithmetic of TFLite Micro's reference kernels. Plain loops; the schedules with int16 weights
 * (the DSP path) are in mc_conv_s16_gemm.c. */
#include "mc_kernels.h"

int16_t mc_requant_s16(const mc_s16_requant_t *q, int64_t acc, int32_t oc) {
  int32_t v;
  acc += q->bias[oc];
  if (q->wide) {
    v = mc_requantize64(acc, q->multiplier[oc], q->shift[oc]);
  } else { /* TFLM accumulates in int32 here: wrap as it does */
    v = mc_requantize((int32_t)(uint32_t)(uint64_t)acc, q->multiplier[oc], q->shift[oc]);
  }
  return mc_clamp_s16(v, q->act_min, q->act_max);
}

/* Sum over the taps of one output pixel inside the image of px[c] * w[c] (c < n), px the tap's input
 * pixel plus in_off, w advancing w_step per tap: CONV_2D (all channels) and DEPTHWISE_CONV_2D (one). */
static int64_t taps_s16(const mc_conv_geom_t *g, const int16_t *image, int32_t oy, int32_t ox,
                        int32_t in_off, int32_t n, const int8_t *w, int32_t w_step) {
  const int32_t y0 = oy * g->stride_h - g->pad_top, x0 = ox * g->stride_w - g->pad_left;
  int64_t acc = 0;
  int32_t ky, kx, c;
  for (ky = 0; ky < g->k_h; ++ky) {
    const int32_t iy = y0 + ky * g->dil_h;
    if (iy < 0 || iy >= g->in_h) continue;
    for (kx = 0; kx < g->k_w; ++kx) {
      const int32_t ix = x0 + kx * g->dil_w;
      const int16_t *px;
      const int8_t *wk;
      if (ix < 0 || ix >= g->in_w) continue;
      px = image + ((size_t)iy * g->in_w + ix) * g->in_c + in_off;
      wk = w + (ky * g->k_w + kx) * w_step;
      for (c = 0; c < n; ++c) acc += (int32_t)px[c] * wk[c];
    }
  }
  return acc;
}

/* depth_mult 0: CONV_2D (weights [out_c][k_h][k_w][in_c]); else DEPTHWISE_CONV_2D ([k_h][k_w][out_c]). */
static void conv_s16(const mc_conv_geom_t *g, const mc_s16_requant_t *q, int32_t depth_mult,
                     const int16_t *in, int16_t *out) {
  const int32_t patch = g->k_h * g->k_w * g->in_c;
  int32_t b, oy, ox, oc;
  for (b = 0; b < g->batches; ++b) {
    const int16_t *image = in + (size_t)b * g->in_h * g->in_w * g->in_c;
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox) {
        for (oc = 0; oc < g->out_c; ++oc) {
          const int64_t acc = depth_mult
              ? taps_s16(g, image, oy, ox, oc / depth_mult, 1, q->weights + oc, g->out_c)
              : taps_s16(g, image, oy, ox, 0, g->in_c, q->weights + (size_t)oc * patch, g->in_c);
          *out++ = mc_requant_s16(q, acc, oc);
        }
      }
    }
  }
}

void mc_conv2d_s16(const mc_conv2d_s16_t *p, const int16_t *in, int16_t *out) {
  conv_s16(&p->g, &p->q, 0, in, out);
}

void mc_depthwise_conv2d_s16(const mc_dwconv_s16_t *p, const int16_t *in, int16_t *out) {
  conv_s16(&p->g, &p->q, p->depth_mult, in, out);
}

void mc_fully_connected_s16(const mc_fc_s16_t *p, const int16_t *in, int16_t *out) {
  int32_t b, o, i;
  for (b = 0; b < p->batches; ++b, in += p->in_features) {
    for (o = 0; o < p->out_features; ++o) {
      const int8_t *w = p->q.weights + (size_t)o * p->in_features;
      int64_t acc = 0;
      for (i = 0; i < p->in_features; ++i) acc += (int32_t)in[i] * w[i];
      *out++ = mc_requant_s16(&p->q, acc, o);
    }
  }
}

/* The input index that filter tap k brings to output index o, or -1. */
static int32_t tconv_tap(int32_t o, int32_t k, int32_t pad, int32_t stride, int32_t n) {
  const int32_t t = o + pad - k;
  if (t < 0 || t % stride) return -1;
  return t / stride < n ? t / stride : -1;
}

/* Visit the taps of output pixel (oy, ox): input pixels in ascending order (filter taps descending),
 * the body sees `px` (the input pixel's offset in the image) and `wo` (the tap's offset in one channel's weights). */
#define MC_TCONV_TAPS(G, OY, OX, ...)                                                   \
  do {                                                                                        \
    int32_t ky_, kx_;                                                                         \
    for (ky_ = (G)->k_h - 1; ky_ >= 0; --ky_) {                                               \
      const int32_t iy_ = tconv_tap(OY, ky_, (G)->pad_top, (G)->stride_h, (G)->in_h);         \
      if (iy_ < 0) continue;                                                                  \
      for (kx_ = (G)->k_w - 1; kx_ >= 0; --kx_) {                                             \
        const int32_t ix_ = tconv_tap(OX, kx_, (G)->pad_left, (G)->stride_w, (G)->in_w);      \
        if (ix_ >= 0) {                                                                       \
          const size_t px = ((size_t)iy_ * (G)->in_w + ix_) * (G)->in_c;                      \
          const int32_t wo = (ky_ * (G)->k_w + kx_) * (G)->in_c;                              \
          __VA_ARGS__;                                                                               \
        }                                                                                     \
      }                                                                                       \
    }                                                                                         \
  } while (0)

#define MC_TCONV_PIXELS(G, ...)                                                              \
  do {                                                                                        \
    int32_t b_, oy, ox, oc;                                                                   \
    for (b_ = 0; b_ < (G)->batches; ++b_) {                                                   \
      const size_t image = (size_t)b_ * (G)->in_h * (G)->in_w * (G)->in_c;                    \
      for (oy = 0; oy < (G)->out_h; ++oy)                                                     \
        for (ox = 0; ox < (G)->out_w; ++ox)                                                   \
          for (oc = 0; oc < (G)->out_c; ++oc) {                                               \
            const size_t wc = (size_t)oc * (G)->k_h * (G)->k_w * (G)->in_c;                   \
            __VA_ARGS__;                                                                             \
          }                                                                                   \
    }                                                                                         \
  } while (0)

void mc_transpose_conv_s8(const mc_tconv_s8_t *p, const int8_t *in, int8_t *out) {
  const mc_tconv_geom_t *g = &p->g;
  MC_TCONV_PIXELS(g, {
    int32_t acc = 0, ic;
    MC_TCONV_TAPS(g, oy, ox, {
      for (ic = 0; ic < g->in_c; ++ic)
        acc += ((int32_t)in[image + px + ic] - p->in_zp) * p->weights[wc + wo + ic];
    });
    acc = mc_requantize(acc + p->bias[oc], p->multiplier[oc], p->shift[oc]) + p->out_zp;
    *out++ = mc_clamp_s8(acc, p->act_min, p->act_max);
  });
}

void mc_transpose_conv_s16(const mc_tconv_s16_t *p, const int16_t *in, int16_t *out) {
  const mc_tconv_geom_t *g = &p->g;
  MC_TCONV_PIXELS(g, {
    int64_t acc = 0;
    int32_t ic;
    MC_TCONV_TAPS(g, oy, ox, {
      for (ic = 0; ic < g->in_c; ++ic) acc += (int32_t)in[image + px + ic] * p->q.weights[wc + wo + ic];
    });
    *out++ = mc_requant_s16(&p->q, acc, oc);
  });
}

void mc_transpose_conv_f32(const mc_tconv_f32_t *p, const float *in, float *out) {
  const mc_tconv_geom_t *g = &p->g;
  MC_TCONV_PIXELS(g, {
    float acc = 0.0f;
    int32_t ic;
    MC_TCONV_TAPS(g, oy, ox, {
      for (ic = 0; ic < g->in_c; ++ic) acc += in[image + px + ic] * p->weights[wc + wo + ic];
    });
    if (p->bias) acc += p->bias[oc];
    *out++ = mc_clamp_f32(acc, p->act_min, p->act_max);
  });
}
