/* The 16x8 CONV_2D, FULLY_CONNECTED and TRANSPOSE_CONV on Helium (mc_conv.h, their "_mve" kernels): the
 * int16 inputs gathered as the DSP path gathers them (mc_conv_s16_gemm.c), 8 at a time by 4 channels'
 * int8 weights widened on load (VLDRB.S16), each product pair summed straight into int64 (VMLALDAVA):
 * TFLM's int64 accumulation, exactly, with no partial sums to bound. */
#include "mc_kernels.h"

#ifdef __ARM_FEATURE_MVE
#include <arm_mve.h>

/* The 4 channels' int64 sums of x ([chunks][8]) by w ([chunks][4][8] int8); w advances past them. */
typedef struct {
  int64_t a0, a1, a2, a3;
} sums64_t;

static inline sums64_t dot4_mve(const int16_t *x, const int8_t **w, int32_t chunks, sums64_t s) {
  const int8_t *k = *w;
  int32_t c;
  for (c = 0; c < chunks; ++c, x += 8, k += 32) {
    const int16x8_t v = vld1q_s16(x);
    s.a0 = vmlaldavaq_s16(s.a0, v, vldrbq_s16(k));
    s.a1 = vmlaldavaq_s16(s.a1, v, vldrbq_s16(k + 8));
    s.a2 = vmlaldavaq_s16(s.a2, v, vldrbq_s16(k + 16));
    s.a3 = vmlaldavaq_s16(s.a3, v, vldrbq_s16(k + 24));
  }
  *w = k;
  return s;
}

static void store4(const mc_s16_requant_t *q, sums64_t s, int32_t o, int32_t out_c, int16_t *out) {
  const int64_t a[4] = {s.a0, s.a1, s.a2, s.a3};
  int32_t r;
  for (r = 0; r < 4 && o + r < out_c; ++r) out[o + r] = mc_requant_s16(q, a[r], o + r);
}

static void gemm_mve(const mc_s16_requant_t *q, int32_t out_c, const int16_t *x, int32_t chunks, int16_t *out) {
  const int8_t *w = q->weights;
  int32_t o;
  for (o = 0; o < out_c; o += 4) {
    const sums64_t zero = {0, 0, 0, 0};
    store4(q, dot4_mve(x, &w, chunks, zero), o, out_c, out);
  }
}

void mc_conv2d_gemm_s16_mve(const mc_conv2d_s16_t *p, const int16_t *in, int16_t *out) {
  mc_conv2d_s16_pixels(p, in, out, 8, gemm_mve);
}

void mc_fully_connected_s16_mve(const mc_fc_s16_t *p, const int16_t *in, int16_t *out) {
  const int32_t n = p->in_features, chunks = (n + 7) >> 3;
  int16_t x[8 * chunks]; /* one batch, zero-padded */
  int32_t b;
  for (b = 0; b < p->batches; ++b, in += n, out += p->out_features) {
    int32_t i;
    vst1q_s16(x + 8 * (chunks - 1), vdupq_n_s16(0));
    for (i = 0; i < n; i += 8) { /* not memcpy: newlib-nano's copies bytes here */
      const mve_pred16_t tail = vctp16q((uint32_t)(n - i));
      vst1q_p_s16(x + i, vld1q_z_s16(in + i, tail), tail);
    }
    gemm_mve(&p->q, p->out_features, x, chunks, out);
  }
}

/* One output pixel of TRANSPOSE_CONV: per block of 4 channels, the sum over its n taps. */
static void tconv_taps(const mc_tconv_s16_t *p, const int16_t *patch, int32_t k, const int32_t *taps,
                       int32_t n, int16_t *out) {
  const int32_t chunks = k >> 3, blocks = (p->g.out_c + 3) >> 2;
  int32_t o, i;
  for (o = 0; o < blocks; ++o) {
    sums64_t s = {0, 0, 0, 0};
    for (i = 0; i < n; ++i) {
      const int8_t *w = p->q.weights + ((size_t)taps[i] * blocks + o) * chunks * 32;
      s = dot4_mve(patch + i * k, &w, chunks, s);
    }
    store4(&p->q, s, 4 * o, p->g.out_c, out);
  }
}

void mc_transpose_conv_s16_mve(const mc_tconv_s16_t *p, const int16_t *in, int16_t *out) {
  mc_tconv_s16_pixels(p, in, out, 8, tconv_taps);
}

#endif
