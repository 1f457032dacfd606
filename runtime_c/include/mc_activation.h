/* Activation kernels: SOFTMAX (int8, int16, float32), LOGISTIC, TANH (int16, float32), HARD_SWISH (float32). Their int8
 * element-wise forms are compile-time lookup tables run by mc_lut_s8 (mc_pointwise.h). */
#ifndef MC_ACTIVATION_H
#define MC_ACTIVATION_H
#include <stdint.h>

/* SOFTMAX int8 over the last axis, TFLM's fixed-point algorithm (gemmlowp exp, Q12.19 sum, Newton
 * reciprocal). exp_table[d] is exp_on_negative_values(beta * input_scale * -d) in Q0.31 for the
 * difference d = max - x in 0..255, computed at compile time (0 where -d < diff_min). Output scale
 * 1/256, zero point -128. */
typedef struct {
  int32_t rows, depth;
  const int32_t *exp_table; /* [256] */
} mc_softmax_s8_t;
void mc_softmax_s8(const mc_softmax_s8_t *p, const int8_t *in, int8_t *out);
/* int8 input, int16 output (scale 1/65536, zero point -32768), as TFLM's Softmax<int8_t, int16_t>. */
void mc_softmax_s8_s16(const mc_softmax_s8_t *p, const int8_t *in, int16_t *out);

/* SOFTMAX int16 (TFLM's SoftmaxInt16): (x - max) rescaled (multiplier, shift) to [-65535, 0] ~ [-10, 0]
 * and looked up in exp_lut, the sum's reciprocal from recip_lut (both 513 entries, interpolated,
 * computed at compile time as TFLM's Prepare does); output scale 1/32768, zero points 0. */
typedef struct {
  int32_t rows, depth, multiplier, shift;
  const int16_t *exp_lut, *recip_lut;
} mc_softmax_s16_t;
void mc_softmax_s16(const mc_softmax_s16_t *p, const int16_t *in, int16_t *out);

typedef struct {
  int32_t rows, depth;
  float beta;
} mc_softmax_f32_t;
void mc_softmax_f32(const mc_softmax_f32_t *p, const float *in, float *out);

/* LOGISTIC, TANH int16 (TFLM's table interpolation, mc_activation.c): input scaled by
 * (x * multiplier + rounding) >> left_shift; output scale 2^-15, zero points 0. */
typedef struct {
  int32_t size, multiplier, left_shift;
} mc_sigmoid_s16_t;
void mc_logistic_s16(const mc_sigmoid_s16_t *p, const int16_t *in, int16_t *out);
void mc_tanh_s16(const mc_sigmoid_s16_t *p, const int16_t *in, int16_t *out);

void mc_logistic_f32(const float *in, float *out, int32_t n);
void mc_tanh_f32(const float *in, float *out, int32_t n);
void mc_hard_swish_f32(const float *in, float *out, int32_t n);

#endif
