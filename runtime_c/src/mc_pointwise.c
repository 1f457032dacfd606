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

int mc_lut_s8_from(const int8_t *table, int32_t lowest, const int8_t *in, int8_t *out, int32_t n) {
  int32_t i;
  for (i = 0; i < n; ++i) {
    if (in[i] < lowest) return -1;
    out[i] = table[in[i] + 128];
  }
  return 0;
}

void mc_lut_s8_f32(const float *table, const int8_t *in, float *out, int32_t n) {
  const float *t = table + 128;
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = t[in[i]];
}

/* Clamp before the zero point is added and before the cast, so huge inputs (and NaN, to the low end)
 * stay defined in C; within range this is TFLM's round(x / scale) + zp, clamped to [qmin, qmax]. */
static int32_t quantize_f32(const mc_quantize_f32_s8_t *p, float x, int32_t qmin, int32_t qmax) {
  const float lo = (float)(qmin - p->zero_point), hi = (float)(qmax - p->zero_point);
  float r = roundf(x / p->scale);
  r = r > hi ? hi : (r >= lo ? r : lo);
  return (int32_t)r + p->zero_point;
}

void mc_quantize_f32_s8(const mc_quantize_f32_s8_t *p, const float *in, int8_t *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = (int8_t)quantize_f32(p, in[i], -128, 127);
}

void mc_quantize_f32_s16(const mc_quantize_f32_s8_t *p, const float *in, int16_t *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = (int16_t)quantize_f32(p, in[i], -32768, 32767);
}

static int32_t load_int(const void *in, int32_t bytes, int32_t i) {
  if (bytes == 1) return ((const int8_t *)in)[i];
  if (bytes == 2) return ((const int16_t *)in)[i];
  return ((const int32_t *)in)[i];
}

void mc_requantize_ints(const mc_requantize_t *p, const void *in, void *out) {
  const int32_t lo = p->out_bytes == 1 ? -128 : p->out_bytes == 2 ? -32768 : INT32_MIN;
  const int32_t hi = p->out_bytes == 1 ? 127 : p->out_bytes == 2 ? 32767 : INT32_MAX;
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    /* int32 inputs: TFLM's q - in_zp and + out_zp wrap on overflow; so do these */
    const int32_t x = (int32_t)((uint32_t)load_int(in, p->in_bytes, i) - (uint32_t)p->in_zp);
    const int32_t y = (int32_t)((uint32_t)mc_requantize(x, p->multiplier, p->shift) + (uint32_t)p->out_zp);
    const int32_t v = y < lo ? lo : (y > hi ? hi : y);
    if (p->out_bytes == 1) {
      ((int8_t *)out)[i] = (int8_t)v;
    } else if (p->out_bytes == 2) {
      ((int16_t *)out)[i] = (int16_t)v;
    } else {
      ((int32_t *)out)[i] = v;
    }
  }
}

void mc_dequantize_s16_f32(const mc_dequantize_t *p, const int16_t *in, float *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = p->scale * (float)((int32_t)in[i] - p->zero_point);
}

void mc_leaky_relu_s16(const mc_leaky_relu_s16_t *p, const int16_t *in, int16_t *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t v = (int32_t)in[i] - p->in_zp;
    const int32_t y = v >= 0 ? mc_requantize(v, p->m_identity, p->s_identity)
                             : mc_requantize(v, p->m_alpha, p->s_alpha);
    out[i] = mc_clamp_s16(y + p->out_zp, -32768, 32767);
  }
}

void mc_relu_s16(const mc_relu_s16_t *p, const int16_t *in, int16_t *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i)
    out[i] = mc_clamp_s16(mc_requantize(in[i], p->multiplier, p->shift), p->lo, p->hi);
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

void mc_math_f32(int32_t fn, const float *in, float *out, int32_t n) {
  int32_t i;
  switch (fn) {
    case MC_SQRT: for (i = 0; i < n; ++i) out[i] = sqrtf(in[i]); break;
    case MC_RSQRT: for (i = 0; i < n; ++i) out[i] = 1.0f / sqrtf(in[i]); break;
    case MC_EXP: for (i = 0; i < n; ++i) out[i] = expf(in[i]); break;
    default: for (i = 0; i < n; ++i) out[i] = logf(in[i]); break;
  }
}
