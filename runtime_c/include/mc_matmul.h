/* BATCH_MATMUL (int8, int16 and float32), with the arithmetic of TFLite Micro's reference kernel. */
#ifndef MC_MATMUL_H
#define MC_MATMUL_H
#include <stdint.h>

/* out[b] (rows x cols) = lhs[b] (rows x depth) x rhs[b] (depth x cols) for each output batch b. Element
 * (i, k) of lhs is at lhs_offsets[b] + i * lhs_row_stride + k * lhs_depth_stride, and (k, j) of rhs alike,
 * so adj_x/adj_y (transposed operands) and broadcast batches are strides and offsets fixed at compile time.
 * int8: sum of (lhs - lhs_zp) * (rhs - rhs_zp) requantized to the output, clamped; int16 (zero points 0):
 * int64 sums requantized by mc_requantize64 (multiplier = the 16-bit one, shift = the total right shift);
 * float32: the products added in k order, as TFLM does. */
typedef struct {
  int32_t batches, rows, cols, depth;
  int32_t lhs_row_stride, lhs_depth_stride, rhs_depth_stride, rhs_col_stride;
  const int32_t *lhs_offsets, *rhs_offsets; /* [batches], in elements */
  int32_t lhs_offset, rhs_offset, out_offset, multiplier, shift; /* int8: offsets are -zero points */
} mc_batch_matmul_t;
void mc_batch_matmul_s8(const mc_batch_matmul_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *out);
void mc_batch_matmul_s16(const mc_batch_matmul_t *p, const int16_t *lhs, const int16_t *rhs, int16_t *out);
void mc_batch_matmul_f32(const mc_batch_matmul_t *p, const float *lhs, const float *rhs, float *out);

#endif
