/* Element-wise kernels of one input: RELU, RELU6, LEAKY_RELU, QUANTIZE, DEQUANTIZE, SQRT, RSQRT, EXP, LOG,
 * and the int8 lookup table that also runs int8 LOGISTIC, TANH and HARD_SWISH (mc_activation.h). */
#ifndef MC_POINTWISE_H
#define MC_POINTWISE_H
#include <stdint.h>

/* out[i] = table[in[i] + 128]: any int8 -> int8 function of one element, computed at compile time with
 * TFLite Micro's exact integer arithmetic (requantizing RELU/RELU6/LEAKY_RELU/QUANTIZE, LOGISTIC, TANH,
 * HARD_SWISH). */
void mc_lut_s8(const int8_t *table, const int8_t *in, int8_t *out, int32_t n);

/* mc_lut_s8 for inputs >= lowest only: returns -1 (without finishing) at the first input below it (int8
 * RSQRT: TFLM stops with "Rsqrt is only defined for positive values"), else 0. */
int mc_lut_s8_from(const int8_t *table, int32_t lowest, const int8_t *in, int8_t *out, int32_t n);

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

/* QUANTIZE float32 -> int16 (the same arithmetic, clamped to int16). */
void mc_quantize_f32_s16(const mc_quantize_f32_s8_t *p, const float *in, int16_t *out);

/* QUANTIZE between integer types (TFLM's Requantize: int8, int16, int32 in and out, elements of
 * in_bytes and out_bytes): out_zp + MultiplyByQuantizedMultiplier(q - in_zp), clamped to the output. */
typedef struct {
  int32_t size, in_bytes, out_bytes, in_zp, out_zp, multiplier, shift;
} mc_requantize_t;
void mc_requantize_ints(const mc_requantize_t *p, const void *in, void *out);

/* DEQUANTIZE int16 -> float32: TFLM's (float)(double scale * (q - zp)). The product of a float32 scale
 * and a 17-bit integer is exact in double, so one float32 multiply rounds it identically. */
typedef struct {
  int32_t size;
  float scale;
  int32_t zero_point;
} mc_dequantize_t;
void mc_dequantize_s16_f32(const mc_dequantize_t *p, const int16_t *in, float *out);

/* LEAKY_RELU int16 (TFLM's QuantizeLeakyRelu): q - in_zp requantized by the identity multiplier
 * (>= 0) or the alpha one (< 0), plus out_zp, clamped to int16. */
typedef struct {
  int32_t size, in_zp, out_zp, m_identity, s_identity, m_alpha, s_alpha;
} mc_leaky_relu_s16_t;
void mc_leaky_relu_s16(const mc_leaky_relu_s16_t *p, const int16_t *in, int16_t *out);

/* RELU and RELU6 int16 (TFLM's ReluQuantized; its Relu6Quantized is the same clamp of raw values, which
 * the multiplier 2^30, shift 1 leaves exact): clamp(MultiplyByQuantizedMultiplier(q), lo, hi). */
typedef struct {
  int32_t size, multiplier, shift, lo, hi;
} mc_relu_s16_t;
void mc_relu_s16(const mc_relu_s16_t *p, const int16_t *in, int16_t *out);

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

/* SQRT, RSQRT (1 / sqrt), EXP, LOG in float32: TFLM's std:: functions of float (sqrtf, expf, logf). */
enum { MC_SQRT, MC_RSQRT, MC_EXP, MC_LOG };
void mc_math_f32(int32_t fn, const float *in, float *out, int32_t n);

#endif
