/* ADD, SUB, MUL with broadcasting, with the arithmetic of TFLite Micro's reference kernels. */
#include "mc_kernels.h"

/* Rows of the broadcast output: *a and *b point at the row's first elements; returns the row count. */
static int32_t bcast_rows(const mc_bcast_t *s) {
  int32_t d, rows = 1;
  for (d = 0; d < s->rank - 1; ++d) rows *= s->dims[d];
  return rows;
}

/* Step to the next row: advance the multi-index over dims[0..rank-1) and the input offsets. */
static void bcast_next(const mc_bcast_t *s, int32_t *idx, int32_t *a_off, int32_t *b_off) {
  int32_t d;
  for (d = s->rank - 2; d >= 0; --d) {
    *a_off += s->a_stride[d];
    *b_off += s->b_stride[d];
    if (++idx[d] < s->dims[d]) return;
    *a_off -= s->a_stride[d] * s->dims[d];
    *b_off -= s->b_stride[d] * s->dims[d];
    idx[d] = 0;
  }
}

/* The row loop shared by every kernel: BODY computes out[i] from a[ia], b[ib]. */
#define MC_BINARY_LOOP(S, BODY)                                                              \
  do {                                                                                       \
    const mc_bcast_t *s_ = (S);                                                              \
    const int32_t rows_ = bcast_rows(s_), n_ = s_->dims[s_->rank - 1];                       \
    const int32_t as_ = s_->a_stride[s_->rank - 1], bs_ = s_->b_stride[s_->rank - 1];        \
    int32_t idx_[MC_BCAST_MAX_DIMS] = {0}, a_off_ = 0, b_off_ = 0, r_, i, ia, ib;            \
    for (r_ = 0; r_ < rows_; ++r_) {                                                         \
      for (i = 0, ia = a_off_, ib = b_off_; i < n_; ++i, ia += as_, ib += bs_) { BODY; }     \
      out += n_;                                                                             \
      bcast_next(s_, idx_, &a_off_, &b_off_);                                                \
    }                                                                                        \
  } while (0)

void mc_add_s8(const mc_add_s8_t *p, const int8_t *a, const int8_t *b, int8_t *out) {
  const int32_t *ta = p->a_table + 128, *tb = p->b_table + 128;
  MC_BINARY_LOOP(&p->shape, {
    const int32_t r = mc_requantize(ta[a[ia]] + tb[b[ib]], p->out_multiplier, p->out_shift);
    out[i] = mc_clamp_s8(r + p->out_offset, p->act_min, p->act_max);
  });
}

void mc_sub_s8(const mc_add_s8_t *p, const int8_t *a, const int8_t *b, int8_t *out) {
  const int32_t *ta = p->a_table + 128, *tb = p->b_table + 128;
  MC_BINARY_LOOP(&p->shape, {
    const int32_t r = mc_requantize(ta[a[ia]] - tb[b[ib]], p->out_multiplier, p->out_shift);
    out[i] = mc_clamp_s8(r + p->out_offset, p->act_min, p->act_max);
  });
}

void mc_mul_s8(const mc_mul_s8_t *p, const int8_t *a, const int8_t *b, int8_t *out) {
  MC_BINARY_LOOP(&p->shape, {
    const int32_t prod = (a[ia] + p->a_offset) * (b[ib] + p->b_offset);
    const int32_t r = mc_requantize(prod, p->multiplier, p->shift) + p->out_offset;
    out[i] = mc_clamp_s8(r, p->act_min, p->act_max);
  });
}

void mc_add_f32(const mc_binary_f32_t *p, const float *a, const float *b, float *out) {
  MC_BINARY_LOOP(&p->shape, out[i] = mc_clamp_f32(a[ia] + b[ib], p->act_min, p->act_max));
}

void mc_sub_f32(const mc_binary_f32_t *p, const float *a, const float *b, float *out) {
  MC_BINARY_LOOP(&p->shape, out[i] = mc_clamp_f32(a[ia] - b[ib], p->act_min, p->act_max));
}

void mc_mul_f32(const mc_binary_f32_t *p, const float *a, const float *b, float *out) {
  MC_BINARY_LOOP(&p->shape, out[i] = mc_clamp_f32(a[ia] * b[ib], p->act_min, p->act_max));
}
