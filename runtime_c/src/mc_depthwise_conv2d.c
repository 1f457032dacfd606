/* DEPTHWISE_CONV_2D with the arithmetic of TFLite Micro's reference kernels (DepthwiseConvPerChannel,
 * DepthwiseConv).
 *
 * Inputs are read in place (no scratch). Interior pixels use the bias with the input zero point
 * folded in; a border pixel visits only its taps inside the image, as TFLM, subtracting the zero
 * point from each input and starting from the model's bias. With depth multiplier 1, four channels
 * are summed at a time. The int8 kernel reads its constants through MC_READ_* (they stay in flash on
 * AVR; plain loads elsewhere). */
#define MC_CONV_IMPL
#include "mc_kernels.h"

/* Filters up to 5x5 go through tap lists on the stack (2 x 200 bytes); larger ones (rare) are
 * summed one channel at a time over their window. */
#define MAX_LISTED_TAPS 25

typedef struct {
  int32_t s0, s1, s2, s3;
} acc4_t;

typedef struct {
  int32_t x, w; /* offsets of a tap's input (from the image) and weights (from channel 0) */
} tap_t;

/* The taps of window w, in filter order. */
static int32_t list_taps(const mc_conv_geom_t *g, mc_conv_window_t w, tap_t *taps) {
  const int32_t row_step = g->dil_h * g->in_w * g->in_c, tap_step = g->dil_w * g->in_c;
  int32_t ky, kx, n = 0;
  for (ky = w.ky0; ky < w.ky1; ++ky) {
    for (kx = w.kx0; kx < w.kx1; ++kx, ++n) {
      taps[n].x = w.origin + ky * row_step + kx * tap_step;
      taps[n].w = (ky * g->k_w + kx) * g->out_c;
    }
  }
  return n;
}

/* Channels [c, c + 4) over a tap list (depth multiplier 1; x and k point at channel c). */
static inline acc4_t dw_list4_s8(const tap_t *taps, int32_t n, const int8_t *x, const MC_FLASH int8_t *k,
                                 int32_t off, acc4_t s) {
  int32_t t;
#ifdef MC_CONV_SIMD
  const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
  for (t = 0; t < n; ++t) {
    const int32_t xv = load4(x + taps[t].x), kv = load4(k + taps[t].w);
    const int32_t xe = EVEN_OFF(off2, xv), xo = ODD_OFF(off2, xv), ke = EVEN(kv), ko = ODD(kv);
    s.s0 = __smlabb(xe, ke, s.s0); /* lanes: even = channels c, c + 2; odd = c + 1, c + 3 */
    s.s2 = __smlatt(xe, ke, s.s2);
    s.s1 = __smlabb(xo, ko, s.s1);
    s.s3 = __smlatt(xo, ko, s.s3);
  }
#else
  for (t = 0; t < n; ++t) {
    const int8_t *xt = x + taps[t].x;
    const MC_FLASH int8_t *kt = k + taps[t].w;
    s.s0 += (xt[0] + off) * MC_READ_S8(&kt[0]);
    s.s1 += (xt[1] + off) * MC_READ_S8(&kt[1]);
    s.s2 += (xt[2] + off) * MC_READ_S8(&kt[2]);
    s.s3 += (xt[3] + off) * MC_READ_S8(&kt[3]);
  }
#endif
  return s;
}

/* Channel c of one pixel over a tap list (any depth multiplier: input channel c / depth_mult). */
static inline int32_t dw_list1_s8(const mc_dwconv_s8_t *p, const tap_t *taps, int32_t n,
                                  const int8_t *x, int32_t c, int32_t off, int32_t s) {
  const int8_t *xc = x + c / p->depth_mult;
  const MC_FLASH int8_t *k = p->weights + c;
  int32_t t;
  for (t = 0; t < n; ++t) s += (xc[taps[t].x] + off) * MC_READ_S8(&k[taps[t].w]);
  return s;
}

/* Channel c of one pixel (any depth multiplier: it reads input channel c / depth_mult). */
static inline int32_t dw_channel_s8(const mc_dwconv_s8_t *p, const int8_t *image, mc_conv_window_t w,
                                    int32_t c, int32_t off, int32_t s) {
  const mc_conv_geom_t *g = &p->g;
  const int32_t C = g->out_c, row_step = g->dil_h * g->in_w * g->in_c, tap_step = g->dil_w * g->in_c;
  int32_t ky, kx;
  for (ky = w.ky0; ky < w.ky1; ++ky) {
    const int8_t *x = image + (w.origin + ky * row_step + w.kx0 * tap_step + c / p->depth_mult);
    const MC_FLASH int8_t *k = p->weights + (ky * g->k_w + w.kx0) * C + c;
    for (kx = w.kx0; kx < w.kx1; ++kx, x += tap_step, k += C) s += (x[0] + off) * MC_READ_S8(k);
  }
  return s;
}

/* Channels per block of sums requantized together (mc_requantize_row_s8); a multiple of 4. */
#define SUM_BLOCK 64

/* Every channel of one pixel: over the n taps listed (offsets from x) when taps is not NULL,
 * else over window w (offsets from x); bias and input offset as described at the top. The sums of a
 * block of channels are requantized together, in a loop of their own (few live registers). */
static void dw_pixel_s8(const mc_dwconv_s8_t *p, const int8_t *x, mc_conv_window_t w,
                        const tap_t *taps, int32_t n, const MC_FLASH int32_t *bias, int32_t off, int8_t *o) {
  const int32_t C = p->g.out_c;
  int32_t acc[SUM_BLOCK];
  int32_t c0, c;
  for (c0 = 0; c0 < C; c0 += SUM_BLOCK) {
    const int32_t c1 = MC_MIN(c0 + SUM_BLOCK, C);
    c = c0;
    if (p->depth_mult == 1 && taps) {
      for (; c + 3 < c1; c += 4) {
        acc4_t s;
        s.s0 = MC_READ_S32(&bias[c]);
        s.s1 = MC_READ_S32(&bias[c + 1]);
        s.s2 = MC_READ_S32(&bias[c + 2]);
        s.s3 = MC_READ_S32(&bias[c + 3]);
        s = dw_list4_s8(taps, n, x + c, p->weights + c, off, s);
        acc[c - c0] = s.s0;
        acc[c - c0 + 1] = s.s1;
        acc[c - c0 + 2] = s.s2;
        acc[c - c0 + 3] = s.s3;
      }
    }
    for (; c < c1; ++c)
      acc[c - c0] = taps ? dw_list1_s8(p, taps, n, x, c, off, MC_READ_S32(&bias[c]))
                         : dw_channel_s8(p, x, w, c, off, MC_READ_S32(&bias[c]));
    mc_requantize_row_s8(acc, c1 - c0, p->requant + 4 * c0, p->out_zp, p->act_min, p->act_max, o + c0);
  }
}

static int is_interior(const mc_conv_geom_t *g, int32_t oy, int32_t ox) {
  return oy >= g->oy_begin && oy < g->oy_end && ox >= g->ox_begin && ox < g->ox_end;
}

void mc_depthwise_conv2d_s8(const mc_dwconv_s8_t *p, const int8_t *in, int8_t *out) {
  const mc_conv_geom_t *g = &p->g;
  tap_t inner[MAX_LISTED_TAPS], border[MAX_LISTED_TAPS];
  const int listed = g->k_h * g->k_w <= MAX_LISTED_TAPS;
  mc_conv_window_t whole;
  int32_t b, oy, ox, n_inner = 0;
  whole.ky0 = whole.kx0 = whole.origin = 0;
  whole.ky1 = g->k_h;
  whole.kx1 = g->k_w;
  if (listed) n_inner = list_taps(g, whole, inner); /* every interior pixel's taps, from tap (0, 0) */
  for (b = 0; b < g->batches; ++b) {
    const int8_t *image = in + (size_t)b * g->in_h * g->in_w * g->in_c;
    int8_t *o = out + (size_t)b * g->out_h * g->out_w * g->out_c;
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox, o += g->out_c) {
        const mc_conv_window_t w = mc_conv_window(g, oy, ox);
        if (!listed)
          dw_pixel_s8(p, image, w, 0, 0, is_interior(g, oy, ox) ? p->bias : p->bias_raw,
                      is_interior(g, oy, ox) ? 0 : -p->in_zp, o);
        else if (is_interior(g, oy, ox))
          dw_pixel_s8(p, image + w.origin, w, inner, n_inner, p->bias, 0, o);
        else
          dw_pixel_s8(p, image, w, border, list_taps(g, w, border), p->bias_raw, -p->in_zp, o);
      }
    }
  }
}

/* ---- float32: each channel sums its taps inside the image in (ky, kx) order, then + bias ---- */

static void dw_pixel_f32(const mc_dwconv_f32_t *p, const float *image, mc_conv_window_t w, float *o) {
  const mc_conv_geom_t *g = &p->g;
  const int32_t C = g->out_c, row_step = g->dil_h * g->in_w * g->in_c, tap_step = g->dil_w * g->in_c;
  int32_t c, ky, kx;
  for (c = 0; c < C; ++c) {
    float s = 0.0f;
    for (ky = w.ky0; ky < w.ky1; ++ky) {
      const float *x = image + (w.origin + ky * row_step + w.kx0 * tap_step + c / p->depth_mult);
      const float *k = p->weights + (ky * g->k_w + w.kx0) * C + c;
      for (kx = w.kx0; kx < w.kx1; ++kx, x += tap_step, k += C) s += x[0] * k[0];
    }
    o[c] = mc_clamp_f32(s + p->bias[c], p->act_min, p->act_max);
  }
}

void mc_depthwise_conv2d_f32(const mc_dwconv_f32_t *p, const float *in, float *out) {
  const mc_conv_geom_t *g = &p->g;
  int32_t b, oy, ox;
  for (b = 0; b < g->batches; ++b) {
    const float *image = in + (size_t)b * g->in_h * g->in_w * g->in_c;
    float *o = out + (size_t)b * g->out_h * g->out_w * g->out_c;
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox, o += g->out_c) dw_pixel_f32(p, image, mc_conv_window(g, oy, ox), o);
    }
  }
}
