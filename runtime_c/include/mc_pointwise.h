/* Element-wise kernels of one input: RELU, RELU6, LEAKY_RELU, QUANTIZE, DEQUANTIZE, and the int8 lookup
 * table that also runs int8 LOGISTIC, TANH and HARD_SWISH (mc_activation.h). */
#ifndef MC_POINTWISE_H
#define MC_POINTWISE_H
#include <stdint.h>

/* out[i] = table[in[i] + 128]: any int8 -> int8 function of one element, computed at compile time with
 * TFLite Micro's exact integer arithmetic (requantizing RELU/RELU6/LEAKY_RELU/QUANTIZE, LOGISTIC, TANH,
 * HARD_SWISH). */
void mc_lut_s8(const int8_t *table, const int8_t *in, int8_t *out, int32_t n);

/* DEQUANTIZE int8 -> float32: out[i] = table[in[i] + 128], the table holding TFLM's
 * (float)(double scale * (q - zero_point)) for each of the 256 inputs. */
void mc_lut_s8_f32(const float *table, const int8_t *in, float *out, int32_t n);

/* QUANTIZE float32 -> int8: TFLM's AffineQuantize, round(x / scale) + zero_point, clamped. */
typedef struct {
  int32_t size;
  float scale;
  int32_t zero_point;
} mc_quantize_f32_s8_t;
void mc_quantize_f32_s8(const mc_quantize_f32_s8_t *p, const float *in, int8_t *out);

/* RELU (lo 0, hi INFINITY), RELU6 (lo 0, hi 6) and RELU_N1_TO_1 (lo -1, hi 1) in float32; NaN passes
 * through as in TFLM. */
typedef struct {
  int32_t size;
  float lo, hi;
} mc_relu_f32_t;
void mc_relu_f32(const mc_relu_f32_t *p, const float *in, float *out);

/* LEAKY_RELU float32: x > 0 ? x : alpha * x. */
typedef struct {
  int32_t size;
  float alpha;
} mc_leaky_relu_f32_t;
void mc_leaky_relu_f32(const mc_leaky_relu_f32_t *p, const float *in, float *out);

#endif
