/* FULLY_CONNECTED, with the arithmetic of TFLite Micro's reference kernels.
 *
 * The int8 weights come in blocks of four output rows, interleaved by the lowering
 * (microc/codegen/ops/conv.py, mc_conv.h) so that one pointer streams them: each input value (each
 * word of four on DSP targets, multiplied in pairs with SMLAD) is loaded once for four rows. With
 * weights sign-extended at compile time (schedule weights "int16") the inputs are sign-extended once
 * per batch and the inner loop has no unpacking left. The input zero point is folded into the bias;
 * the sums of up to MC_FC_GROUP rows are requantized together in a loop of their own
 * (mc_requantize_row_s8: one 64-bit multiply-add per value with the table folded at compile time).
 * The int8 kernel reads its constants through MC_READ_* (they stay in flash on AVR). */
#define MC_CONV_IMPL
#include "mc_kernels.h"

typedef mc_acc4_t acc4_t;

#ifdef MC_CONV_SIMD
/* One word of 4 inputs (v) by the 4 rows' next 4 weights (w, 16 bytes; `aligned`: w is 4-byte
 * aligned, which lets the compiler load them as two LDRD). */
static inline acc4_t mac_chunk_s8(int32_t v, const MC_FLASH int8_t *w, int aligned, acc4_t s) {
  const int32_t ve = EVEN(v), vo = ODD(v);
  int32_t k0, k1, k2, k3;
  if (aligned) {
    int32_t k[4];
    memcpy(k, __builtin_assume_aligned(w, 4), sizeof k);
    k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3];
  } else {
    k0 = load4(w), k1 = load4(w + 4), k2 = load4(w + 8), k3 = load4(w + 12);
  }
  s.s0 = __smlad(ve, EVEN(k0), __smlad(vo, ODD(k0), s.s0));
  s.s1 = __smlad(ve, EVEN(k1), __smlad(vo, ODD(k1), s.s1));
  s.s2 = __smlad(ve, EVEN(k2), __smlad(vo, ODD(k2), s.s2));
  s.s3 = __smlad(ve, EVEN(k3), __smlad(vo, ODD(k3), s.s3));
  return s;
}
#endif

/* Four rows over one block: `chunks` groups of 4 inputs x 4 rows (16 bytes each), then the rows'
 * last `tail` weights one row after another. */
/* Inlined into each caller: mc_fully_connected_s8 keeps the code (and the counts) it had alone. */
static inline __attribute__((always_inline)) acc4_t dot_4rows_s8(const int8_t *x, const MC_FLASH int8_t *w, int32_t chunks,
                                  int32_t tail, acc4_t s) {
  int32_t c, j;
#ifdef MC_CONV_SIMD
  if (((uintptr_t)w & 3) == 0) { /* blocks and words start 4-byte aligned if the array does */
    for (c = chunks; c > 0; --c, x += 4, w += 16) s = mac_chunk_s8(load4(x), w, 1, s);
  } else {
    for (c = chunks; c > 0; --c, x += 4, w += 16) s = mac_chunk_s8(load4(x), w, 0, s);
  }
#else
  for (c = chunks; c > 0; --c, x += 4, w += 16) {
    for (j = 0; j < 4; ++j) {
      const int32_t v = x[j];
      s.s0 += MC_READ_S8(&w[j]) * v;
      s.s1 += MC_READ_S8(&w[4 + j]) * v;
      s.s2 += MC_READ_S8(&w[8 + j]) * v;
      s.s3 += MC_READ_S8(&w[12 + j]) * v;
    }
  }
#endif
  for (j = 0; j < tail; ++j) {
    const int32_t v = x[j];
    s.s0 += MC_READ_S8(&w[j]) * v;
    s.s1 += MC_READ_S8(&w[tail + j]) * v;
    s.s2 += MC_READ_S8(&w[2 * tail + j]) * v;
    s.s3 += MC_READ_S8(&w[3 * tail + j]) * v;
  }
  return s;
}

/* Row `row` of a last block of `rows` (< 4) rows: its 4 weights of each chunk lie 4 * rows apart. */
static inline __attribute__((always_inline)) int32_t dot_row_s8(const int8_t *x, const MC_FLASH int8_t *w, int32_t chunks, int32_t tail,
                          int32_t rows, int32_t row, int32_t acc) {
  const int32_t step = 4 * rows;
  const MC_FLASH int8_t *k = w + 4 * row;
  int32_t c, j;
  for (c = chunks; c > 0; --c, x += 4, k += step) {
#ifdef MC_CONV_SIMD
    const int32_t v = load4(x), kv = load4(k);
    acc = __smlad(EVEN(v), EVEN(kv), __smlad(ODD(v), ODD(kv), acc));
#else
    for (j = 0; j < 4; ++j) acc += MC_READ_S8(&k[j]) * x[j];
#endif
  }
  k = w + chunks * step + row * tail;
  for (j = 0; j < tail; ++j) acc += MC_READ_S8(&k[j]) * x[j];
  return acc;
}

/* One block of four rows from their biases (mc_fully_connected_s8 writes the same out inline: its
 * instruction counts are the benchmarks'). */
static inline acc4_t block_s8(const int8_t *x, const MC_FLASH int8_t *w, const MC_FLASH int32_t *bias,
                              int32_t chunks, int32_t tail) {
  acc4_t s;
  s.s0 = MC_READ_S32(&bias[0]);
  s.s1 = MC_READ_S32(&bias[1]);
  s.s2 = MC_READ_S32(&bias[2]);
  s.s3 = MC_READ_S32(&bias[3]);
  return dot_4rows_s8(x, w, chunks, tail, s);
}

/* Rows [o, o + rows) of one batch from their accumulators, requantized and clamped. */
static void requant_rows_s8(const mc_fc_s8_t *p, const int32_t *acc, int32_t o, int32_t rows,
                            int8_t *y) {
  mc_requantize_row_s8(acc, rows, p->requant + 4 * o, p->out_zp, p->act_min, p->act_max, y + o);
}

void mc_fully_connected_s8(const mc_fc_s8_t *p, const int8_t *in, int8_t *out) {
  const int32_t n = p->in_features, out_f = p->out_features, chunks = n >> 2, tail = n & 3;
  const MC_FLASH int32_t *bias = p->bias;
  int32_t b, g, o, r;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *x = in + (size_t)b * n;
    int8_t *y = out + (size_t)b * out_f;
    const MC_FLASH int8_t *w = p->weights;
    int32_t acc[MC_FC_GROUP]; /* a group's sums, requantized together (a multiple of 4 rows) */
    for (g = 0; g < out_f; g += MC_FC_GROUP) {
      const int32_t end = g + MC_FC_GROUP < out_f ? g + MC_FC_GROUP : out_f;
      for (o = g; o + 4 <= end; o += 4, w += 4 * n) {
        acc4_t s;
        s.s0 = MC_READ_S32(&bias[o]);
        s.s1 = MC_READ_S32(&bias[o + 1]);
        s.s2 = MC_READ_S32(&bias[o + 2]);
        s.s3 = MC_READ_S32(&bias[o + 3]);
        s = dot_4rows_s8(x, w, chunks, tail, s);
        acc[o - g] = s.s0, acc[o - g + 1] = s.s1, acc[o - g + 2] = s.s2, acc[o - g + 3] = s.s3;
      }
      for (r = 0; o + r < end; ++r) /* the last block's out_f % 4 rows */
        acc[o - g + r] = dot_row_s8(x, w, chunks, tail, end - o, r, MC_READ_S32(&bias[o + r]));
      requant_rows_s8(p, acc, g, end - g, y);
    }
  }
}

/* ---- weights sign-extended at compile time (schedule weights "int16") ---- */

/* Lane j (0..3) of 4 inputs in a block's words of one row: (w[4i], w[4i+2]) and (w[4i+1], w[4i+3]). */
static inline int32_t lane_w16(const MC_FLASH int32_t *words, int32_t j) {
  const int32_t word = MC_READ_S32(&words[j & 1]);
  return j < 2 ? (int16_t)(word & 0xFFFF) : (int16_t)((uint32_t)word >> 16);
}

/* Row `row` of a block of `rows` rows over n inputs: its two words per 4 inputs lie 2 * rows apart
 * (portable C, and the remainder rows on DSP targets; xs: the widened inputs there). */
static int32_t dot_row_w16(const int8_t *x, const int32_t *xs, const MC_FLASH int32_t *w, int32_t n,
                           int32_t rows, int32_t row, int32_t acc) {
  const int32_t step = 2 * rows;
  const MC_FLASH int32_t *k = w + 2 * row;
  int32_t i, j;
#ifdef MC_CONV_SIMD
  (void)x;
  for (i = 0; i < n; i += 4, xs += 2, k += step) acc = __smlad(xs[0], k[0], __smlad(xs[1], k[1], acc));
  (void)j;
#else
  (void)xs;
  for (i = 0; i < n; i += 4, k += step)
    for (j = 0; j < 4 && i + j < n; ++j) acc += lane_w16(k, j) * x[i + j];
#endif
  return acc;
}

#ifdef MC_CONV_SIMD
/* n inputs as [ceil(n / 4)][even, odd] 16-bit pairs, the lanes of the weights' words (a last partial
 * word read as zeros past n). */
static void widen_s8(const int8_t *x, int32_t n, int32_t *xs) {
  int32_t i;
  for (i = 0; i + 4 <= n; i += 4, x += 4, xs += 2) {
    const int32_t v = load4(x);
    xs[0] = EVEN(v);
    xs[1] = ODD(v);
  }
  if (i < n) {
    int8_t last[4] = {0, 0, 0, 0};
    int32_t v;
    memcpy(last, x, (size_t)(n - i));
    v = load4(last);
    xs[0] = EVEN(v);
    xs[1] = ODD(v);
  }
}

#endif

void mc_fully_connected_w16_s8(const mc_fc_s8_t *p, const int8_t *in, int8_t *out) {
  const int32_t n = p->in_features, out_f = p->out_features, chunks = (n + 3) >> 2;
  const MC_FLASH int32_t *bias = p->bias;
#ifdef MC_CONV_SIMD
  int32_t xs[2 * chunks]; /* the widened inputs (C99 VLA: the stack holds what this layer needs) */
#else
  int32_t *xs = 0;
#endif
  int32_t b, g, o, r;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *x = in + (size_t)b * n;
    int8_t *y = out + (size_t)b * out_f;
    const MC_FLASH int32_t *w = (const MC_FLASH int32_t *)(const MC_FLASH void *)p->weights;
    int32_t acc[MC_FC_GROUP];
#ifdef MC_CONV_SIMD
    widen_s8(x, n, xs);
#endif
    for (g = 0; g < out_f; g += MC_FC_GROUP) {
      const int32_t end = g + MC_FC_GROUP < out_f ? g + MC_FC_GROUP : out_f;
      for (o = g; o + 4 <= end; o += 4, w += 8 * chunks) {
#ifdef MC_CONV_SIMD
        acc4_t s;
        s.s0 = bias[o], s.s1 = bias[o + 1], s.s2 = bias[o + 2], s.s3 = bias[o + 3];
        s = mc_dot_4rows_w16(xs, w, chunks, s);
        acc[o - g] = s.s0, acc[o - g + 1] = s.s1, acc[o - g + 2] = s.s2, acc[o - g + 3] = s.s3;
#else
        for (r = 0; r < 4; ++r) acc[o - g + r] = dot_row_w16(x, xs, w, n, 4, r, MC_READ_S32(&bias[o + r]));
#endif
      }
      for (r = 0; o + r < end; ++r) /* the last block's out_f % 4 rows */
        acc[o - g + r] = dot_row_w16(x, xs, w, n, end - o, r, MC_READ_S32(&bias[o + r]));
      requant_rows_s8(p, acc, g, end - g, y);
    }
  }
}

void mc_fc_accumulate_s8(const int8_t *x, const MC_FLASH int8_t *w, const MC_FLASH int32_t *bias, int32_t n,
                         int32_t out_f, int32_t *acc) {
  const int32_t chunks = n >> 2, tail = n & 3;
  int32_t o, r;
  for (o = 0; o + 4 <= out_f; o += 4, w += 4 * n) {
    const acc4_t s = block_s8(x, w, bias + o, chunks, tail);
    acc[o] = s.s0, acc[o + 1] = s.s1, acc[o + 2] = s.s2, acc[o + 3] = s.s3;
  }
  for (r = 0; o + r < out_f; ++r)
    acc[o + r] = dot_row_s8(x, w, chunks, tail, out_f - o, r, MC_READ_S32(&bias[o + r]));
}

void mc_fully_connected_f32(const mc_fc_f32_t *p, const float *in, float *out) {
  int32_t b, o, i;
  for (b = 0; b < p->batches; ++b) {
    const float *x = in + b * p->in_features;
    for (o = 0; o < p->out_features; ++o) {
      const float *w = p->weights + o * p->in_features;
      float acc = 0.0f;
      for (i = 0; i < p->in_features; ++i) acc += x[i] * w[i];
      if (p->bias) acc += p->bias[o];
      out[b * p->out_features + o] = mc_clamp_f32(acc, p->act_min, p->act_max);
    }
  }
}
