/* CONV_2D int8 as a matrix product, with the arithmetic of TFLite Micro's ConvPerChannel (the input
 * zero point folded into the bias): the schedule kernels "1x1" (a 1x1 filter without padding, any
 * stride: pixels x input channels by input channels x output channels) and "gemm" (any filter: each
 * pixel's patch, gathered as with im2col, by the patch's weights).
 *
 * Two output channels by two pixels per pass; the weights come in pairs of channels laid out by the
 * lowering (mc_conv.h) so that one pointer streams them. On DSP targets the two pixels' inputs are
 * first sign-extended into 16-bit pairs on the stack (SXTB16 once per pixel pair instead of once per
 * pixel pair and output channel). With int8 weights the inner loop unpacks each weight word with
 * SXTB16; with weights sign-extended at compile time (int16) it is three LDRD and eight SMLAD per 4
 * inputs, and the pair's sums are requantized afterwards in a loop of their own. */
#define MC_CONV_IMPL
#include "mc_kernels.h"

typedef struct {
  int32_t s00, s01, s10, s11; /* [channel][pixel] */
} acc4_t;

/* The requantization constants in locals: the int8 stores could alias the struct's fields. */
typedef struct {
  const MC_FLASH int32_t *mult, *shift;
  int32_t zp, lo, hi;
} requant_t;

static requant_t requant_of(const mc_conv2d_s8_t *p) {
  requant_t r;
  r.mult = p->multiplier;
  r.shift = p->shift;
  r.zp = p->out_zp;
  r.lo = p->act_min;
  r.hi = p->act_max;
  return r;
}

/* Right shifts (shift <= 0, the usual case: scales below 1) take mc_requantize_down's shorter
 * arithmetic (the multipliers of QuantizeMultiplier are never negative). */
static inline int8_t requant_s8(requant_t r, int32_t acc, int32_t oc) {
  const int32_t m = MC_READ_S32(&r.mult[oc]), sh = MC_READ_S32(&r.shift[oc]);
  acc = (sh <= 0 && m >= 0 ? mc_requantize_down(acc, m, -sh) : mc_requantize(acc, m, sh)) + r.zp;
  return mc_clamp_s8(acc, r.lo, r.hi);
}

/* Channels oc (and oc + 1 when rows is 2) of both pixels. */
static inline void store_s8(requant_t r, acc4_t s, int32_t oc, int32_t rows, int8_t *o0, int8_t *o1) {
  o0[oc] = requant_s8(r, s.s00, oc);
  o1[oc] = requant_s8(r, s.s01, oc);
  if (rows == 2) {
    o0[oc + 1] = requant_s8(r, s.s10, oc + 1);
    o1[oc + 1] = requant_s8(r, s.s11, oc + 1);
  }
}

#ifdef MC_CONV_SIMD
/* Pixels x0 and x1, 4 values per chunk, as [chunk][x0 even, x0 odd, x1 even, x1 odd] lanes. */
static void widen_pair(const int8_t *x0, const int8_t *x1, int32_t chunks, int32_t *xs) {
  int32_t c;
  for (c = 0; c < chunks; ++c, x0 += 4, x1 += 4, xs += 4) {
    const int32_t a = load4(x0), b = load4(x1);
    xs[0] = EVEN(a);
    xs[1] = ODD(a);
    xs[2] = EVEN(b);
    xs[3] = ODD(b);
  }
}

/* Two channels (w: [chunk][2][4]) by the two widened pixels. */
static inline acc4_t dot_2x2_wide(const int32_t *xs, const MC_FLASH int8_t *w, int32_t chunks, acc4_t s) {
  for (; chunks > 0; --chunks, xs += 4, w += 8) {
    const int32_t x0e = xs[0], x0o = xs[1], x1e = xs[2], x1o = xs[3];
    int32_t k = load4(w), ke = EVEN(k), ko = ODD(k);
    s.s00 = __smlad(x0e, ke, __smlad(x0o, ko, s.s00));
    s.s01 = __smlad(x1e, ke, __smlad(x1o, ko, s.s01));
    k = load4(w + 4), ke = EVEN(k), ko = ODD(k);
    s.s10 = __smlad(x0e, ke, __smlad(x0o, ko, s.s10));
    s.s11 = __smlad(x1e, ke, __smlad(x1o, ko, s.s11));
  }
  return s;
}

/* Two channels of sign-extended weights (w: [chunk][2][even, odd] words) by the widened pixels: every
 * operand is a ready 16-bit pair, so per 4 inputs: three LDRD, eight SMLAD and the loop (written in
 * assembly: GCC loads the same words one LDR at a time). chunks > 0. */
static inline acc4_t dot_2x2_w16(const int32_t *xs, const int32_t *w, int32_t chunks, acc4_t s) {
  int32_t a, b, c, d, ke, ko;
  __asm__("1:\n\t"
          "ldrd %[a], %[b], [%[xs]], #8\n\t"
          "ldrd %[c], %[d], [%[xs]], #8\n\t"
          "ldrd %[ke], %[ko], [%[w]], #8\n\t"
          "smlad %[s00], %[a], %[ke], %[s00]\n\t"
          "smlad %[s00], %[b], %[ko], %[s00]\n\t"
          "smlad %[s01], %[c], %[ke], %[s01]\n\t"
          "smlad %[s01], %[d], %[ko], %[s01]\n\t"
          "ldrd %[ke], %[ko], [%[w]], #8\n\t"
          "smlad %[s10], %[a], %[ke], %[s10]\n\t"
          "smlad %[s10], %[b], %[ko], %[s10]\n\t"
          "smlad %[s11], %[c], %[ke], %[s11]\n\t"
          "smlad %[s11], %[d], %[ko], %[s11]\n\t"
          "subs %[n], %[n], #1\n\t"
          "bne 1b"
          : [s00] "+r"(s.s00), [s01] "+r"(s.s01), [s10] "+r"(s.s10), [s11] "+r"(s.s11),
            [xs] "+r"(xs), [w] "+r"(w), [n] "+r"(chunks), [a] "=&r"(a), [b] "=&r"(b), [c] "=&r"(c),
            [d] "=&r"(d), [ke] "=&r"(ke), [ko] "=&r"(ko)
          :
          : "cc", "memory");
  return s;
}

static inline acc4_t dot_1x2_w16(const int32_t *xs, const int32_t *w, int32_t chunks, acc4_t s) {
  for (; chunks > 0; --chunks, xs += 4, w += 2) {
    s.s00 = __smlad(xs[0], w[0], __smlad(xs[1], w[1], s.s00));
    s.s01 = __smlad(xs[2], w[0], __smlad(xs[3], w[1], s.s01));
  }
  return s;
}

/* One channel (w: its row) by the two widened pixels: s00, s01. */
static inline acc4_t dot_1x2_wide(const int32_t *xs, const MC_FLASH int8_t *w, int32_t chunks, acc4_t s) {
  for (; chunks > 0; --chunks, xs += 4, w += 4) {
    const int32_t k = load4(w), ke = EVEN(k), ko = ODD(k);
    s.s00 = __smlad(xs[0], ke, __smlad(xs[1], ko, s.s00));
    s.s01 = __smlad(xs[2], ke, __smlad(xs[3], ko, s.s01));
  }
  return s;
}
#endif

/* `rows` (1 or 2) channels by pixels x0, x1 over n values from int8: w holds `rows` groups of 4
 * weights per chunk, then `rows` rows of the tail (the layout above; n < 4 for the tail alone). */
static inline acc4_t dot_rows_s8(const int8_t *x0, const int8_t *x1, const MC_FLASH int8_t *w,
                                 int32_t chunks, int32_t tail, int32_t rows, acc4_t s) {
  int32_t c, j;
  for (c = 0; c < chunks; ++c, x0 += 4, x1 += 4, w += 4 * rows) {
    for (j = 0; j < 4; ++j) {
      const int32_t k0 = MC_READ_S8(&w[j]), k1 = MC_READ_S8(&w[(rows - 1) * 4 + j]);
      s.s00 += k0 * x0[j];
      s.s01 += k0 * x1[j];
      s.s10 += k1 * x0[j];
      s.s11 += k1 * x1[j];
    }
  }
  for (j = 0; j < tail; ++j) {
    const int32_t k0 = MC_READ_S8(&w[j]), k1 = MC_READ_S8(&w[(rows - 1) * tail + j]);
    s.s00 += k0 * x0[j];
    s.s01 += k0 * x1[j];
    s.s10 += k1 * x0[j];
    s.s11 += k1 * x1[j];
  }
  return s;
}

/* Every output channel of pixels x0 and x1 (x1 may equal x0). */
static void pixel_pair_s8(const mc_conv2d_s8_t *p, const int8_t *x0, const int8_t *x1, int8_t *o0,
                          int8_t *o1, int32_t *xs) {
  const int32_t n = p->g.in_c, out_c = p->g.out_c, chunks = n >> 2, tail = n & 3;
  const MC_FLASH int8_t *w = p->weights;
  const MC_FLASH int32_t *bias = p->bias;
  const requant_t r = requant_of(p);
  int32_t oc;
  (void)xs;
#ifdef MC_CONV_SIMD
  widen_pair(x0, x1, chunks, xs);
#endif
  for (oc = 0; oc < out_c; oc += 2) {
    const int32_t rows = oc + 1 < out_c ? 2 : 1;
    acc4_t s;
    s.s00 = s.s01 = MC_READ_S32(&bias[oc]);
    s.s10 = s.s11 = MC_READ_S32(&bias[oc + rows - 1]);
#ifdef MC_CONV_SIMD
    s = rows == 2 ? dot_2x2_wide(xs, w, chunks, s) : dot_1x2_wide(xs, w, chunks, s);
    s = dot_rows_s8(x0 + 4 * chunks, x1 + 4 * chunks, w + rows * 4 * chunks, 0, tail, rows, s);
#else
    s = dot_rows_s8(x0, x1, w, chunks, tail, rows, s);
#endif
    w += rows * n;
    store_s8(r, s, oc, rows, o0, o1);
  }
}

#ifdef MC_CONV_SIMD
/* The same with sign-extended weights (mc_conv2d_1x1_w16_s8; in_c a multiple of 4). */
static void pixel_pair_w16(const mc_conv2d_s8_t *p, const int8_t *x0, const int8_t *x1, int8_t *o0,
                           int8_t *o1, int32_t *xs) {
  /* values per pixel: a patch (gemm), or the pixel's channels (1x1); >= 4 (the lowering) */
  const int32_t chunks = (p->patch_len ? p->patch_len : p->g.in_c) >> 2, out_c = p->g.out_c;
  const int32_t *w = (const int32_t *)(const void *)p->weights;
  const MC_FLASH int32_t *bias = p->bias;
  int32_t acc[2 * out_c]; /* both pixels' sums, requantized after the channels (C99 VLA: the stack
                           * holds what this layer needs) */
  int32_t oc;
  widen_pair(x0, x1, chunks, xs);
  for (oc = 0; oc < out_c; oc += 2) {
    const int32_t rows = oc + 1 < out_c ? 2 : 1;
    acc4_t s;
    s.s00 = s.s01 = bias[oc];
    s.s10 = s.s11 = bias[oc + rows - 1];
    s = rows == 2 ? dot_2x2_w16(xs, w, chunks, s) : dot_1x2_w16(xs, w, chunks, s);
    w += 2 * rows * chunks;
    acc[oc] = s.s00;
    acc[out_c + oc] = s.s01;
    acc[oc + rows - 1] = rows == 2 ? s.s10 : s.s00;
    acc[out_c + oc + rows - 1] = rows == 2 ? s.s11 : s.s01;
  }
  mc_requantize_row_s8(acc, out_c, p->requant, p->out_zp, p->act_min, p->act_max, o0);
  mc_requantize_row_s8(acc + out_c, out_c, p->requant, p->out_zp, p->act_min, p->act_max, o1);
}
#endif

typedef void (*pair_fn)(const mc_conv2d_s8_t *p, const int8_t *x0, const int8_t *x1, int8_t *o0,
                        int8_t *o1, int32_t *xs);

/* Every pixel, two at a time. */
static void conv_1x1(const mc_conv2d_s8_t *p, const int8_t *in, int8_t *out, pair_fn pair) {
  const mc_conv_geom_t *g = &p->g;
  const int32_t pixels = g->out_h * g->out_w, C = g->in_c;
#ifdef MC_CONV_SIMD
  int32_t xs[(C >> 2) * 4 + 4]; /* the widened pixel pair: in_c / 4 chunks of 4 words (VLA) */
#else
  int32_t *xs = 0;
#endif
  int32_t b, i;
  for (b = 0; b < g->batches; ++b) {
    const int8_t *image = in + (size_t)b * g->in_h * g->in_w * C;
    int8_t *y = out + (size_t)b * pixels * g->out_c;
    for (i = 0; i < pixels; i += 2) {
      const int32_t j = i + 1 < pixels ? i + 1 : i;
      const int32_t at0 = ((i / g->out_w) * g->stride_h * g->in_w + (i % g->out_w) * g->stride_w) * C;
      const int32_t at1 = ((j / g->out_w) * g->stride_h * g->in_w + (j % g->out_w) * g->stride_w) * C;
      pair(p, image + at0, image + at1, y + (size_t)i * g->out_c, y + (size_t)j * g->out_c, xs);
    }
  }
}

void mc_conv2d_1x1_s8(const mc_conv2d_s8_t *p, const int8_t *in, int8_t *out, void *scratch) {
  (void)scratch;
  conv_1x1(p, in, out, pixel_pair_s8);
}

#ifdef MC_CONV_SIMD
void mc_conv2d_1x1_w16_s8(const mc_conv2d_s8_t *p, const int8_t *in, int8_t *out, void *scratch) {
  (void)scratch;
  conv_1x1(p, in, out, pixel_pair_w16);
}

void mc_conv2d_gemm_w16_s8(const mc_conv2d_s8_t *p, const int8_t *in, int8_t *out, void *scratch) {
  const mc_conv_geom_t *g = &p->g;
  const int32_t n = p->patch_len, pixels = g->out_h * g->out_w;
  int8_t patches[2 * n]; /* VLAs: the stack holds what this layer needs */
  int32_t xs[n];
  int32_t b, i;
  (void)scratch;
  for (b = 0; b < g->batches; ++b) {
    const int8_t *image = in + (size_t)b * g->in_h * g->in_w * g->in_c;
    int8_t *y = out + (size_t)b * pixels * g->out_c;
    for (i = 0; i < pixels; i += 2) {
      const int32_t j = i + 1 < pixels ? i + 1 : i;
      mc_conv_gather_patch_s8(p, image, i / g->out_w, i % g->out_w, patches);
      mc_conv_gather_patch_s8(p, image, j / g->out_w, j % g->out_w, patches + n);
      pixel_pair_w16(p, patches, patches + n, y + (size_t)i * g->out_c, y + (size_t)j * g->out_c, xs);
    }
  }
}
#endif
