/* CONV_2D with the arithmetic of TFLite Micro's reference kernels (ConvPerChannel, Conv).
 *
 * Inputs are read in place, one run of contiguous values per filter row (k_w * in_c values; in_c per
 * tap when dilated in width), needing no scratch; only filters with short rows (few input channels,
 * e.g. a first layer) have their patches gathered into scratch first. Interior pixels go two at a time
 * through a kernel that also takes two output channels at a time (every loaded value feeds two
 * multiply-accumulates; SMLAD on DSP targets) with the input zero point folded into the bias.
 * Border pixels go one at a time over their taps inside the image only, as TFLM, subtracting the
 * zero point from each input and starting from the model's bias. The int8 kernel reads its constants
 * through MC_READ_* (they stay in flash on AVR; plain loads elsewhere). */
#define MC_CONV_IMPL
#include "mc_kernels.h"


static int32_t first_inside(int32_t i0, int32_t d) { return i0 >= 0 ? 0 : (-i0 + d - 1) / d; }

static int32_t end_inside(int32_t i0, int32_t d, int32_t n, int32_t k, int32_t first) {
  int32_t end = i0 >= n ? 0 : (n - i0 + d - 1) / d;
  end = end < k ? end : k;
  return end > first ? end : first;
}

mc_conv_window_t mc_conv_window(const mc_conv_geom_t *g, int32_t oy, int32_t ox) {
  mc_conv_window_t w;
  const int32_t iy0 = oy * g->stride_h - g->pad_top, ix0 = ox * g->stride_w - g->pad_left;
  w.ky0 = first_inside(iy0, g->dil_h);
  w.ky1 = end_inside(iy0, g->dil_h, g->in_h, g->k_h, w.ky0);
  w.kx0 = first_inside(ix0, g->dil_w);
  w.kx1 = end_inside(ix0, g->dil_w, g->in_w, g->k_w, w.kx0);
  w.origin = (iy0 * g->in_w + ix0) * g->in_c;
  return w;
}

static int is_interior(const mc_conv_geom_t *g, int32_t oy, int32_t ox) {
  return oy >= g->oy_begin && oy < g->oy_end && ox >= g->ox_begin && ox < g->ox_end;
}

/* Taps per contiguous run of a filter row: the whole row, or one tap when dilated in width. */
static int32_t run_taps(const mc_conv_geom_t *g, int32_t taps) { return g->dil_w == 1 ? taps : 1; }

/* ---- int8 ---- */

typedef struct {
  int32_t s00, s01, s10, s11; /* [channel][pixel] */
} acc4_t;

/* Two pixels (a0, a1) by two channels (w0, w1) over n values. */
static inline acc4_t dot_2x2_s8(const int8_t *a0, const int8_t *a1, const MC_FLASH int8_t *w0,
                                const MC_FLASH int8_t *w1, int32_t n, acc4_t s) {
  int32_t i = 0;
#ifdef MC_CONV_SIMD
  int32_t blocks;
  for (blocks = n >> 2; blocks > 0; --blocks, i += 4) {
    const int32_t x0 = load4(a0 + i), x1 = load4(a1 + i), k0 = load4(w0 + i), k1 = load4(w1 + i);
    const int32_t x0e = EVEN(x0), x0o = ODD(x0), x1e = EVEN(x1), x1o = ODD(x1);
    const int32_t k0e = EVEN(k0), k0o = ODD(k0), k1e = EVEN(k1), k1o = ODD(k1);
    s.s00 = __smlad(x0e, k0e, __smlad(x0o, k0o, s.s00));
    s.s01 = __smlad(x1e, k0e, __smlad(x1o, k0o, s.s01));
    s.s10 = __smlad(x0e, k1e, __smlad(x0o, k1o, s.s10));
    s.s11 = __smlad(x1e, k1e, __smlad(x1o, k1o, s.s11));
  }
#endif
  for (; i < n; ++i) {
    const int32_t x0 = a0[i], x1 = a1[i], k0 = MC_READ_S8(&w0[i]), k1 = MC_READ_S8(&w1[i]);
    s.s00 += k0 * x0;
    s.s01 += k0 * x1;
    s.s10 += k1 * x0;
    s.s11 += k1 * x1;
  }
  return s;
}

/* One pixel (a, each value plus off) by two channels (w0, w1) over n values: s00 and s10. */
static inline acc4_t dot_1x2_s8(const int8_t *a, const MC_FLASH int8_t *w0, const MC_FLASH int8_t *w1,
                                int32_t n, int32_t off, acc4_t s) {
  int32_t i = 0;
#ifdef MC_CONV_SIMD
  const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
  for (; i + 4 <= n; i += 4) {
    const int32_t x = load4(a + i), k0 = load4(w0 + i), k1 = load4(w1 + i);
    const int32_t xe = EVEN_OFF(off2, x), xo = ODD_OFF(off2, x);
    s.s00 = __smlad(xe, EVEN(k0), __smlad(xo, ODD(k0), s.s00));
    s.s10 = __smlad(xe, EVEN(k1), __smlad(xo, ODD(k1), s.s10));
  }
#endif
  for (; i < n; ++i) {
    const int32_t x = a[i] + off;
    s.s00 += MC_READ_S8(&w0[i]) * x;
    s.s10 += MC_READ_S8(&w1[i]) * x;
  }
  return s;
}

static inline int8_t requant_s8(const mc_conv2d_s8_t *p, int32_t acc, int32_t oc) {
  acc = mc_requantize(acc, MC_READ_S32(&p->multiplier[oc]), MC_READ_S32(&p->shift[oc])) + p->out_zp;
  return mc_clamp_s8(acc, p->act_min, p->act_max);
}

/* Where a pixel's filter taps lie relative to its tap (0, 0): `rows` filter rows row_step apart,
 * each `runs` runs of `run` contiguous values run_step apart, in filter order. */
typedef struct {
  int32_t rows, row_step, runs, run, run_step;
} layout_t;

/* Taps read in place from the image. */
static layout_t image_layout(const mc_conv_geom_t *g) {
  layout_t l;
  const int32_t taps = run_taps(g, g->k_w);
  l.rows = g->k_h;
  l.row_step = g->dil_h * g->in_w * g->in_c;
  l.runs = g->k_w / taps;
  l.run = taps * g->in_c;
  l.run_step = g->dil_w * g->in_c;
  if (l.runs == 1 && l.row_step == l.run) { /* rows back to back (1 x k_w filters, full rows) */
    l.run *= l.rows;
    l.rows = 1;
  }
  return l;
}

/* Taps gathered into a contiguous patch of patch_len values (weights padded alike with zeros). */
static layout_t patch_layout(const mc_conv2d_s8_t *p) {
  layout_t l;
  l.rows = l.runs = 1;
  l.run = p->patch_len;
  l.row_step = l.run_step = 0;
  return l;
}

/* Two interior pixels whose tap (0, 0) is at x0, x1 (x1 may equal x0), every output channel. */
static void conv_pair_s8(const mc_conv2d_s8_t *p, layout_t l, const int8_t *x0, const int8_t *x1,
                         int8_t *o0, int8_t *o1) {
  const mc_conv_geom_t *g = &p->g;
  const int32_t n = l.rows * l.runs * l.run; /* weights per output channel */
  int32_t oc, r, k;
  for (oc = 0; oc < g->out_c; oc += 2) {
    const int32_t oc1 = oc + 1 < g->out_c ? oc + 1 : oc; /* odd channel count: last one twice */
    const MC_FLASH int8_t *w0 = p->weights + (size_t)oc * n, *w1 = p->weights + (size_t)oc1 * n;
    acc4_t s;
    s.s00 = s.s01 = MC_READ_S32(&p->bias[oc]);
    s.s10 = s.s11 = MC_READ_S32(&p->bias[oc1]);
    if (l.rows == 1 && l.runs == 1) {
      s = dot_2x2_s8(x0, x1, w0, w1, l.run, s);
    } else {
      for (r = 0; r < l.rows; ++r) {
        for (k = 0; k < l.runs; ++k, w0 += l.run, w1 += l.run) {
          const int32_t at = r * l.row_step + k * l.run_step;
          s = dot_2x2_s8(x0 + at, x1 + at, w0, w1, l.run, s);
        }
      }
    }
    o0[oc] = requant_s8(p, s.s00, oc);
    o1[oc] = requant_s8(p, s.s01, oc);
    o0[oc1] = requant_s8(p, s.s10, oc1);
    o1[oc1] = requant_s8(p, s.s11, oc1);
  }
}

/* One pixel next to the padding: only the taps of window w, inputs minus the zero point. */
static void conv_border_s8(const mc_conv2d_s8_t *p, const int8_t *image, mc_conv_window_t w,
                           int8_t *o) {
  const mc_conv_geom_t *g = &p->g;
  const int32_t n = g->k_h * g->k_w * g->in_c, row_step = g->dil_h * g->in_w * g->in_c;
  const int32_t taps = run_taps(g, w.kx1 - w.kx0), run = taps * g->in_c;
  int32_t oc, ky, kx;
  for (oc = 0; oc < g->out_c; oc += 2) {
    const int32_t oc1 = oc + 1 < g->out_c ? oc + 1 : oc;
    acc4_t s;
    s.s00 = MC_READ_S32(&p->bias_raw[oc]);
    s.s10 = MC_READ_S32(&p->bias_raw[oc1]);
    s.s01 = s.s11 = 0;
    for (ky = w.ky0; ky < w.ky1; ++ky) {
      for (kx = w.kx0; kx < w.kx1; kx += taps) {
        const int32_t at = w.origin + ky * row_step + kx * g->dil_w * g->in_c;
        const int32_t wt = (ky * g->k_w + kx) * g->in_c;
        s = dot_1x2_s8(image + at, p->weights + (size_t)oc * n + wt,
                       p->weights + (size_t)oc1 * n + wt, run, -p->in_zp, s);
      }
    }
    o[oc] = requant_s8(p, s.s00, oc);
    o[oc1] = requant_s8(p, s.s10, oc1);
  }
}

/* The k_h*k_w*in_c patch of pixel (oy, ox) in filter order, padded taps set to the input zero
 * point (which the folded bias cancels: TFLM skips them). */
void mc_conv_gather_patch_s8(const mc_conv2d_s8_t *p, const int8_t *image, int32_t oy, int32_t ox,
                             int8_t *patch) {
  const mc_conv_geom_t *g = &p->g;
  const mc_conv_window_t w = mc_conv_window(g, oy, ox);
  const int8_t zp = (int8_t)p->in_zp;
  const int32_t row = g->k_w * g->in_c, taps = run_taps(g, w.kx1 - w.kx0), run = taps * g->in_c;
  int32_t ky, kx, i;
  for (ky = 0; ky < g->k_h; ++ky, patch += row) {
    int32_t done = 0; /* values of this filter row written so far */
    for (kx = w.kx0; ky >= w.ky0 && ky < w.ky1 && kx < w.kx1; kx += taps) {
      const int8_t *x = image + (w.origin + (ky * g->dil_h * g->in_w + kx * g->dil_w) * g->in_c);
      for (; done < kx * g->in_c; ++done) patch[done] = zp;
      for (i = 0; i < run; ++i) patch[done + i] = x[i];
      done += run;
    }
    for (; done < row; ++done) patch[done] = zp;
  }
  for (i = 0; i < p->patch_len - g->k_h * row; ++i) patch[i] = 0; /* meets zero-padded weights */
}

/* Filters with short rows (few input channels): every pixel's patch gathered, then two at a time. */
static void conv_patches_s8(const mc_conv2d_s8_t *p, const int8_t *image, int8_t *y, int8_t *scratch) {
  const mc_conv_geom_t *g = &p->g;
  const int32_t n = p->patch_len, pixels = g->out_h * g->out_w;
  const layout_t l = patch_layout(p);
  int32_t i;
  for (i = 0; i < pixels; i += 2) {
    const int32_t j = i + 1 < pixels ? i + 1 : i;
    mc_conv_gather_patch_s8(p, image, i / g->out_w, i % g->out_w, scratch);
    mc_conv_gather_patch_s8(p, image, j / g->out_w, j % g->out_w, scratch + n);
    conv_pair_s8(p, l, scratch, scratch + n, y + (size_t)i * g->out_c, y + (size_t)j * g->out_c);
  }
}

/* Read in place: interior pixels two at a time (pairs span rows), border pixels one at a time. */
static void conv_in_place_s8(const mc_conv2d_s8_t *p, const int8_t *image, int8_t *y) {
  const mc_conv_geom_t *g = &p->g;
  const layout_t l = image_layout(g);
  const int8_t *held = 0; /* an interior pixel waiting for a partner */
  int8_t *held_out = 0;
  int32_t oy, ox;
  for (oy = 0; oy < g->out_h; ++oy) {
    for (ox = 0; ox < g->out_w; ++ox) {
      const mc_conv_window_t w = mc_conv_window(g, oy, ox);
      int8_t *o = y + ((size_t)oy * g->out_w + ox) * g->out_c;
      if (!is_interior(g, oy, ox)) {
        conv_border_s8(p, image, w, o);
      } else if (held) {
        conv_pair_s8(p, l, held, image + w.origin, held_out, o);
        held = 0;
      } else {
        held = image + w.origin;
        held_out = o;
      }
    }
  }
  if (held) conv_pair_s8(p, l, held, held, held_out, held_out);
}

void mc_conv2d_s8(const mc_conv2d_s8_t *p, const int8_t *in, int8_t *out, void *scratch) {
  const mc_conv_geom_t *g = &p->g;
  int32_t b;
  for (b = 0; b < g->batches; ++b) {
    const int8_t *image = in + (size_t)b * g->in_h * g->in_w * g->in_c;
    int8_t *y = out + (size_t)b * g->out_h * g->out_w * g->out_c;
    if (scratch)
      conv_patches_s8(p, image, y, (int8_t *)scratch);
    else
      conv_in_place_s8(p, image, y);
  }
}

/* ---- float32: taps inside the image in (ky, kx, c) order, then + bias, as TFLM ---- */

typedef struct {
  float s00, s01, s10, s11;
} accf_t;

static inline accf_t dot_2x2_f32(const float *a0, const float *a1, const float *w0, const float *w1,
                                 int32_t n, accf_t s) {
  int32_t i;
  for (i = 0; i < n; ++i) {
    const float x0 = a0[i], x1 = a1[i], k0 = w0[i], k1 = w1[i];
    s.s00 += x0 * k0;
    s.s01 += x1 * k0;
    s.s10 += x0 * k1;
    s.s11 += x1 * k1;
  }
  return s;
}

static inline float out_f32(const mc_conv2d_f32_t *p, float acc, int32_t oc) {
  return mc_clamp_f32(acc + p->bias[oc], p->act_min, p->act_max);
}

/* Pixels x0 and x1 (may be equal) over window w (the same taps for both), every output channel. */
static void conv_pixels_f32(const mc_conv2d_f32_t *p, const float *image, mc_conv_window_t w,
                            int32_t origin1, float *o0, float *o1) {
  const mc_conv_geom_t *g = &p->g;
  const int32_t n = g->k_h * g->k_w * g->in_c, row_step = g->dil_h * g->in_w * g->in_c;
  const int32_t taps = run_taps(g, w.kx1 - w.kx0), run = taps * g->in_c;
  int32_t oc, ky, kx;
  for (oc = 0; oc < g->out_c; oc += 2) {
    const int32_t oc1 = oc + 1 < g->out_c ? oc + 1 : oc;
    accf_t s;
    s.s00 = s.s01 = s.s10 = s.s11 = 0.0f;
    for (ky = w.ky0; ky < w.ky1; ++ky) {
      for (kx = w.kx0; kx < w.kx1; kx += taps) {
        const int32_t at = ky * row_step + kx * g->dil_w * g->in_c;
        const int32_t wt = (ky * g->k_w + kx) * g->in_c;
        s = dot_2x2_f32(image + (w.origin + at), image + (origin1 + at), p->weights + (size_t)oc * n + wt,
                        p->weights + (size_t)oc1 * n + wt, run, s);
      }
    }
    o0[oc] = out_f32(p, s.s00, oc);
    o1[oc] = out_f32(p, s.s01, oc);
    o0[oc1] = out_f32(p, s.s10, oc1);
    o1[oc1] = out_f32(p, s.s11, oc1);
  }
}

void mc_conv2d_f32(const mc_conv2d_f32_t *p, const float *in, float *out) {
  const mc_conv_geom_t *g = &p->g;
  int32_t b, oy, ox;
  for (b = 0; b < g->batches; ++b) {
    const float *image = in + (size_t)b * g->in_h * g->in_w * g->in_c;
    float *y = out + (size_t)b * g->out_h * g->out_w * g->out_c;
    int held = 0;
    mc_conv_window_t held_w = {0, 0, 0, 0, 0};
    float *held_out = 0;
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox) {
        const mc_conv_window_t w = mc_conv_window(g, oy, ox);
        float *o = y + ((size_t)oy * g->out_w + ox) * g->out_c;
        if (!is_interior(g, oy, ox)) {
          conv_pixels_f32(p, image, w, w.origin, o, o);
        } else if (held) {
          conv_pixels_f32(p, image, held_w, w.origin, held_out, o);
          held = 0;
        } else {
          held = 1;
          held_w = w;
          held_out = o;
        }
      }
    }
    if (held) conv_pixels_f32(p, image, held_w, held_w.origin, held_out, held_out);
  }
}
