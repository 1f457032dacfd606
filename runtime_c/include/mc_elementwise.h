/* Binary elementwise kernels: ADD, SUB, MUL (int8 and float32) with NumPy-style broadcasting, with the
 * arithmetic of TFLite Micro's reference kernels. */
#ifndef MC_ELEMENTWISE_H
#define MC_ELEMENTWISE_H
#include <stdint.h>

/* The output is rows of `dims[rank-1]` elements; a and b advance by a_stride/b_stride elements per index
 * step of each dimension (0 where that input is broadcast). Dimensions are merged at compile time, so a
 * same-shape operation is a single row. */
#define MC_BCAST_MAX_DIMS 6
typedef struct {
  int32_t rank;
  int32_t dims[MC_BCAST_MAX_DIMS];
  int32_t a_stride[MC_BCAST_MAX_DIMS], b_stride[MC_BCAST_MAX_DIMS];
} mc_bcast_t;

/* ADD/SUB int8 (TFLM's general quantized path): each input is offset, shifted left by 20, scaled by its
 * own multiplier to the common scale 2 * max(scale1, scale2); that is a function of the int8 value
 * alone, so it is tabulated at compile time (a_table[q + 128]; SUB negates b_table, which is exact).
 * The sum is scaled to the output (out_shift <= 0). */
typedef struct {
  mc_bcast_t shape;
  const int32_t *a_table, *b_table; /* [256] */
  int32_t out_multiplier, out_shift, out_offset, act_min, act_max;
} mc_add_s8_t;
void mc_add_s8(const mc_add_s8_t *p, const int8_t *a, const int8_t *b, int8_t *out);

/* ADD/SUB int16 (TFLM's general quantized path for int16, AddGeneralParamScale/SubElementwise): each
 * input is offset, shifted left by left_shift (15), scaled to the common scale by its own multiplier
 * (shift <= 0); SUB negates b's scaled value (b_sign -1); the sum is scaled to the output. Per element:
 * an int16 input has too many values to tabulate. */
typedef struct {
  mc_bcast_t shape;
  int32_t a_offset, b_offset, left_shift, b_sign;
  int32_t a_multiplier, a_shift, b_multiplier, b_shift;
  int32_t out_multiplier, out_shift, out_offset, act_min, act_max;
} mc_add_s16_t;
void mc_add_s16(const mc_add_s16_t *p, const int16_t *a, const int16_t *b, int16_t *out);

/* MUL int8: requant((a + a_offset) * (b + b_offset)) + out_offset, clamped. */
typedef struct {
  mc_bcast_t shape;
  int32_t a_offset, b_offset, out_offset, multiplier, shift;
  int32_t act_min, act_max;
} mc_mul_s8_t;
void mc_mul_s8(const mc_mul_s8_t *p, const int8_t *a, const int8_t *b, int8_t *out);
/* MUL int16 (zero points 0, as TFLM requires): requant(a * b), clamped; the offsets are unused. */
void mc_mul_s16(const mc_mul_s8_t *p, const int16_t *a, const int16_t *b, int16_t *out);

typedef struct {
  mc_bcast_t shape;
  float act_min, act_max;
} mc_binary_f32_t;
void mc_add_f32(const mc_binary_f32_t *p, const float *a, const float *b, float *out);
void mc_sub_f32(const mc_binary_f32_t *p, const float *a, const float *b, float *out);
void mc_mul_f32(const mc_binary_f32_t *p, const float *a, const float *b, float *out);
void mc_div_f32(const mc_binary_f32_t *p, const float *a, const float *b, float *out);

/* MAXIMUM, MINIMUM: raw comparisons (TFLM does not requantize int8). */
void mc_maximum_s8(const mc_bcast_t *s, const int8_t *a, const int8_t *b, int8_t *out);
void mc_minimum_s8(const mc_bcast_t *s, const int8_t *a, const int8_t *b, int8_t *out);
void mc_maximum_s16(const mc_bcast_t *s, const int16_t *a, const int16_t *b, int16_t *out);
void mc_minimum_s16(const mc_bcast_t *s, const int16_t *a, const int16_t *b, int16_t *out);
void mc_maximum_f32(const mc_bcast_t *s, const float *a, const float *b, float *out);
void mc_minimum_f32(const mc_bcast_t *s, const float *a, const float *b, float *out);

/* SQUARED_DIFFERENCE int8 (TFLM: inputs offset, shifted left by 7 and scaled to 2 * max(scale1,
 * scale2), tabulated per int8 value; the square is requantized to the output). */
typedef struct {
  mc_bcast_t shape;
  const int32_t *a_table, *b_table; /* [256] */
  int32_t multiplier, shift, out_offset;
} mc_sqdiff_s8_t;
void mc_squared_difference_s8(const mc_sqdiff_s8_t *p, const int8_t *a, const int8_t *b, int8_t *out);
/* int16 (TFLM's left shift 0, zero points 0): each input rescaled by its multiplier (< 1) per element,
 * the difference squared (below 2^31: each rescaled value is at most half the int16 range) and
 * requantized to the output. */
typedef struct {
  mc_bcast_t shape;
  int32_t a_multiplier, a_shift, b_multiplier, b_shift, multiplier, shift;
} mc_sqdiff_s16_t;
void mc_squared_difference_s16(const mc_sqdiff_s16_t *p, const int16_t *a, const int16_t *b, int16_t *out);
void mc_squared_difference_f32(const mc_bcast_t *s, const float *a, const float *b, float *out);

/* int32, unquantized (TFLM's int32 ADD ignores the fused activation: its range is the whole int32's;
 * MUL and DIV clamp to it). Wrapping sums and products; DIV truncates (x / 0 gives 0). */
typedef struct {
  mc_bcast_t shape;
  int32_t act_min, act_max;
} mc_binary_s32_t;
void mc_add_s32(const mc_binary_s32_t *p, const int32_t *a, const int32_t *b, int32_t *out);
void mc_mul_s32(const mc_binary_s32_t *p, const int32_t *a, const int32_t *b, int32_t *out);
void mc_div_s32(const mc_binary_s32_t *p, const int32_t *a, const int32_t *b, int32_t *out);
void mc_maximum_s32(const mc_bcast_t *s, const int32_t *a, const int32_t *b, int32_t *out);
void mc_minimum_s32(const mc_bcast_t *s, const int32_t *a, const int32_t *b, int32_t *out);

#endif
