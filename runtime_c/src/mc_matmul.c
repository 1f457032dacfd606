/* BATCH_MATMUL (mc_matmul.h). */
#include "mc_kernels.h"

#define MC_MATMUL(T, ACC, FINISH, ADJ_A, ADJ_B)                                              \
  do {                                                                                      \
    int32_t b, i, j, k;                                                                     \
    for (b = 0; b < p->batches; ++b) {                                                      \
      const T *a0 = lhs + p->lhs_offsets[b], *b0 = rhs + p->rhs_offsets[b];                 \
      for (i = 0; i < p->rows; ++i) {                                                       \
        const T *a = a0 + i * p->lhs_row_stride;                                            \
        for (j = 0; j < p->cols; ++j) {                                                     \
          const T *bb = b0 + j * p->rhs_col_stride;                                         \
          ACC acc = 0;                                                                      \
          for (k = 0; k < p->depth; ++k)                                                    \
            acc += (ADJ_A(a[k * p->lhs_depth_stride])) * (ADJ_B(bb[k * p->rhs_depth_stride])); \
          *out++ = FINISH(acc);                                                             \
        }                                                                                   \
      }                                                                                     \
    }                                                                                       \
  } while (0)

void mc_batch_matmul_s8(const mc_batch_matmul_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *out) {
  const int32_t a_off = p->lhs_offset, b_off = p->rhs_offset;
#define MC_ADD_A(x) ((int32_t)(x) + a_off)
#define MC_ADD_B(x) ((int32_t)(x) + b_off)
#define MC_REQUANT(acc) mc_clamp_s8(mc_requantize(acc, p->multiplier, p->shift) + p->out_offset, INT8_MIN, INT8_MAX)
  MC_MATMUL(int8_t, int32_t, MC_REQUANT, MC_ADD_A, MC_ADD_B);
#undef MC_ADD_A
#undef MC_ADD_B
#undef MC_REQUANT
}

void mc_batch_matmul_s16(const mc_batch_matmul_t *p, const int16_t *lhs, const int16_t *rhs, int16_t *out) {
#define MC_WIDEN(x) ((int64_t)(x))
#define MC_REQUANT(acc) mc_clamp_s16(mc_requantize64(acc, p->multiplier, p->shift), INT16_MIN, INT16_MAX)
  MC_MATMUL(int16_t, int64_t, MC_REQUANT, MC_WIDEN, MC_WIDEN);
#undef MC_WIDEN
#undef MC_REQUANT
}

void mc_batch_matmul_f32(const mc_batch_matmul_t *p, const float *lhs, const float *rhs, float *out) {
#define MC_AS_IS(x) (x)
  MC_MATMUL(float, float, MC_AS_IS, MC_AS_IS, MC_AS_IS);
#undef MC_AS_IS
}
