/* SVDF as TFLM's EvalIntegerSvdfReference / EvalFloatSvdfReference (kernels/svdf_common.cc). The
 * integer feature projection is FULLY_CONNECTED's accumulation (SMLAD on DSP targets). The per-filter
 * time products are summed straight into their unit, in TFLM's order (no scratch for them), the state
 * zero point folded into the unit's bias at compile time (bias - state_zp * sum of its time weights):
 * on DSP targets two int16 (or, sign-extended with SXTB16, four int8) products per SMLAD. Integer sums
 * wrap in uint32 as SMLAD's do (TFLM's int32 sums of int16 products could overflow there), so the order
 * and the fold change nothing. The state shifts left by a word at a time: newlib-nano's memmove copies
 * bytes when source and destination are not aligned alike, which they never are here. */
#define MC_CONV_IMPL
#include <string.h>
#include "mc_common.h"
#include "mc_conv.h"
#include "mc_recurrent.h"

/* buf[0 .. n - by) = buf[by .. n) (bytes, by > 0), front to back, four bytes per (unaligned) load. */
static void shift_left(uint8_t *buf, size_t n, size_t by) {
  size_t i = 0;
  uint32_t v;
  for (; i + 4 + by <= n; i += 4) {
    memcpy(&v, buf + i + by, 4);
    memcpy(buf + i, &v, 4);
  }
  for (; i + by < n; i++) buf[i] = buf[i + by];
}

/* sum_j w[j] * v[j] over n int16 values, wrapping in uint32. */
static uint32_t dot_s16(const int16_t *w, const int16_t *v, int32_t n) {
  uint32_t acc = 0;
  int32_t j = 0;
#ifdef MC_CONV_SIMD
  for (; j + 2 <= n; j += 2) {
    int32_t a, b;
    memcpy(&a, w + j, 4);
    memcpy(&b, v + j, 4);
    acc = (uint32_t)__smlad(a, b, (int32_t)acc);
  }
#endif
  for (; j < n; j++) acc += (uint32_t)(w[j] * v[j]);
  return acc;
}

/* The same over int8 values. */
static uint32_t dot_s8(const int8_t *w, const int8_t *v, int32_t n) {
  uint32_t acc = 0;
  int32_t j = 0;
#ifdef MC_CONV_SIMD
  for (; j + 4 <= n; j += 4) {
    const int32_t a = load4(w + j), b = load4(v + j);
    acc = (uint32_t)__smlad(EVEN(a), EVEN(b), __smlad(ODD(a), ODD(b), (int32_t)acc));
  }
#endif
  for (; j < n; j++) acc += (uint32_t)(w[j] * v[j]);
  return acc;
}

/* The body of the integer SVDF for both state types: T is int8_t or int16_t, TMIN/TMAX its range
 * (the functions are written out below so that microc's project finds their definitions). */
#define MC_SVDF_INT_BODY(T, TMIN, TMAX, DOT)                                                             \
  {                                                                                                   \
    const int32_t n_state = p->batches * p->filters * p->memory;                                      \
    const T *wt = (const T *)p->weights_time;                                                         \
    int32_t b, f, u, r;                                                                               \
    shift_left((uint8_t *)state, (size_t)n_state * sizeof(T), sizeof(T));                             \
    for (b = 0; b < p->batches; b++) {                                                                \
      T *s = state + b * p->filters * p->memory + p->memory - 1;                                      \
      mc_fc_accumulate_s8(in + b * p->inputs, p->weights_feature, p->feature_bias, p->inputs,          \
                          p->filters, scratch);                                                       \
      for (f = 0; f < p->filters; f++) {                                                              \
        int32_t acc = mc_requantize(scratch[f], p->mult_feature, p->shift_feature);                   \
        acc = acc < (TMIN) ? (TMIN) : (acc > (TMAX) ? (TMAX) : acc);                                  \
        s[f * p->memory] = (T)(p->state_zp + acc); /* TFLM adds the zero point after the clamp */     \
      }                                                                                               \
    }                                                                                                 \
    for (b = 0; b < p->batches; b++) {                                                                \
      const T *s = state + b * p->filters * p->memory;                                                \
      for (u = 0; u < p->units; u++) {                                                                \
        uint32_t acc = (uint32_t)p->bias[u];                                           \
        for (r = 0; r < p->rank; r++) {                                                               \
          const int32_t filter = u * p->rank + r;                                                     \
          acc += DOT(wt + filter * p->memory, s + filter * p->memory, p->memory);                     \
        }                                                                                             \
        out[b * p->units + u] =                                                                       \
            mc_clamp_s8(mc_requantize((int32_t)acc, p->mult_out, p->shift_out) + p->out_zp, -128, 127); \
      }                                                                                               \
    }                                                                                                 \
  }

void mc_svdf_s8(const mc_svdf_s8_t *p, const int8_t *in, int8_t *state, int8_t *out, int32_t *scratch)
MC_SVDF_INT_BODY(int8_t, -128, 127, dot_s8)

void mc_svdf_s8_s16(const mc_svdf_s8_t *p, const int8_t *in, int16_t *state, int8_t *out,
                    int32_t *scratch)
MC_SVDF_INT_BODY(int16_t, -32768, 32767, dot_s16)

void mc_svdf_f32(const mc_svdf_f32_t *p, const float *in, float *state, float *out) {
  const int32_t n_state = p->batches * p->filters * p->memory;
  int32_t b, f, u, r, j, c;
  shift_left((uint8_t *)state, (size_t)n_state * sizeof(float), sizeof(float));
  for (b = 0; b < p->batches; b++) {
    const float *x = in + b * p->inputs;
    float *s = state + b * p->filters * p->memory + p->memory - 1;
    for (f = 0; f < p->filters; f++) {
      const float *w = p->weights_feature + f * p->inputs;
      float acc = 0.0f;
      for (c = 0; c < p->inputs; c++) acc += w[c] * x[c];
      s[f * p->memory] = acc;
    }
  }
  for (b = 0; b < p->batches; b++) {
    const float *s = state + b * p->filters * p->memory;
    for (u = 0; u < p->units; u++) {
      float acc = p->bias[u];
      for (r = 0; r < p->rank; r++) {
        const int32_t filter = u * p->rank + r;
        const float *w = p->weights_time + filter * p->memory, *v = s + filter * p->memory;
        float dot = 0.0f;
        for (j = 0; j < p->memory; j++) dot += w[j] * v[j];
        acc += dot;
      }
      out[b * p->units + u] = mc_clamp_f32(acc, p->act_min, p->act_max);
    }
  }
}
