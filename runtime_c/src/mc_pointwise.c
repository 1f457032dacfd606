/* Element-wise kernels of one input (mc_pointwise.h), with the arithmetic of TFLite Micro's reference
 * kernels; the int8 ones are compile-time tables. */
#include "mc_kernels.h"

void mc_lut_s8(const int8_t *table, const int8_t *in, int8_t *out, int32_t n) {
  const int8_t *t = table + 128;
  int32_t i = 0;
  for (; i + 4 <= n; i += 4) { /* unrolled: the loop overhead is most of the cost of one lookup */
    const int8_t a = t[in[i]], b = t[in[i + 1]], c = t[in[i + 2]], d = t[in[i + 3]];
    out[i] = a;
    out[i + 1] = b;
    out[i + 2] = c;
    out[i + 3] = d;
  }
  for (; i < n; ++i) out[i] = t[in[i]];
}

void mc_lut_s8_f32(const float *table, const int8_t *in, float *out, int32_t n) {
  const float *t = table + 128;
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = t[in[i]];
}

void mc_quantize_f32_s8(const mc_quantize_f32_s8_t *p, const float *in, int8_t *out) {
  /* Clamp before the zero point is added and before the cast, so huge inputs (and NaN, to the low end)
   * stay defined in C; within range this is TFLM's round(x / scale) + zp, clamped to int8. */
  const float lo = (float)(-128 - p->zero_point), hi = (float)(127 - p->zero_point);
  const float scale = p->scale;
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    float r = roundf(in[i] / scale);
    r = r > hi ? hi : (r >= lo ? r : lo);
    out[i] = (int8_t)((int32_t)r + p->zero_point);
  }
}

void mc_relu_f32(const mc_relu_f32_t *p, const float *in, float *out) {
  const float lo = p->lo, hi = p->hi;
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = mc_clamp_f32(in[i], lo, hi);
}

void mc_leaky_relu_f32(const mc_leaky_relu_f32_t *p, const float *in, float *out) {
  const float alpha = p->alpha;
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = in[i] > 0.0f ? in[i] : in[i] * alpha;
}
