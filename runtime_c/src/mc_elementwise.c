/* ADD, SUB, MUL with broadcasting, with the arithmetic of TFLite Micro's reference kernels. */
#include "mc_kernels.h"

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

/* The row loop shared by every kernel: out[i] = F(a element, b element). Rows are the last (merged)
 * dimension; each input steps by 1 or 0 (broadcast) along it, and those cases get their own loops so
 * the common ones are plain pointer walks. T is the element type of a and b. */
#define MC_BINARY_LOOP(S, T, F)                                                               \
  do {                                                                                        \
    const mc_bcast_t *s_ = (S);                                                               \
    const int32_t last_ = s_->rank - 1, n_ = s_->dims[last_];                                 \
    const int32_t as_ = s_->a_stride[last_], bs_ = s_->b_stride[last_];                       \
    int32_t idx_[MC_BCAST_MAX_DIMS] = {0}, a_off_ = 0, b_off_ = 0, rows_ = 1, r_, i_;         \
    for (r_ = 0; r_ < last_; ++r_) rows_ *= s_->dims[r_];                                     \
    for (r_ = 0; r_ < rows_; ++r_) {                                                          \
      const T *pa_ = a + a_off_;                                                              \
      const T *pb_ = b + b_off_;                                                              \
      if (as_ == 1 && bs_ == 1) {                                                             \
        for (i_ = 0; i_ < n_; ++i_) out[i_] = F(pa_[i_], pb_[i_]);                            \
      } else if (bs_ == 0 && as_ == 1) {                                                      \
        const T y_ = *pb_;                                                                    \
        for (i_ = 0; i_ < n_; ++i_) out[i_] = F(pa_[i_], y_);                                 \
      } else if (as_ == 0 && bs_ == 1) {                                                      \
        const T x_ = *pa_;                                                                    \
        for (i_ = 0; i_ < n_; ++i_) out[i_] = F(x_, pb_[i_]);                                 \
      } else {                                                                                \
        for (i_ = 0; i_ < n_; ++i_) out[i_] = F(pa_[i_ * as_], pb_[i_ * bs_]);                \
      }                                                                                       \
      out += n_;                                                                              \
      bcast_next(s_, idx_, &a_off_, &b_off_);                                                 \
    }                                                                                         \
  } while (0)

/* One row of ADD (SUB has its b table negated at compile time): a and b step by 1 or 0 elements. A
 * function of its own keeps the row loop's few live values in registers. */
static void add_row_s8(const mc_add_s8_t *p, const int8_t *a, int32_t as, const int8_t *b,
                       int32_t bs, int8_t *out, int32_t n) {
  const int32_t *ta = p->a_table + 128, *tb = p->b_table + 128;
  const int32_t mult = p->out_multiplier, right = -p->out_shift; /* out_shift <= 0 */
  const int32_t zp = p->out_offset, lo = p->act_min, hi = p->act_max;
  int8_t *end = out + n;
#define ADD_S8(x, y) mc_clamp_s8(mc_requantize_down((x) + (y), mult, right) + zp, lo, hi)
  if (as == 1 && bs == 1) {
    while (out < end) *out++ = ADD_S8(ta[*a++], tb[*b++]);
  } else if (as == 1) {
    const int32_t y = tb[*b];
    while (out < end) *out++ = ADD_S8(ta[*a++], y);
  } else if (bs == 1) {
    const int32_t x = ta[*a];
    while (out < end) *out++ = ADD_S8(x, tb[*b++]);
  } else {
    const int8_t v = ADD_S8(ta[*a], tb[*b]);
    while (out < end) *out++ = v;
  }
#undef ADD_S8
}

void mc_add_s8(const mc_add_s8_t *p, const int8_t *a, const int8_t *b, int8_t *out) {
  const mc_bcast_t *s = &p->shape;
  const int32_t last = s->rank - 1, n = s->dims[last];
  int32_t idx[MC_BCAST_MAX_DIMS] = {0}, a_off = 0, b_off = 0, rows = 1, r;
  for (r = 0; r < last; ++r) rows *= s->dims[r];
  for (r = 0; r < rows; ++r, out += n) {
    add_row_s8(p, a + a_off, s->a_stride[last], b + b_off, s->b_stride[last], out, n);
    bcast_next(s, idx, &a_off, &b_off);
  }
}

void mc_mul_s8(const mc_mul_s8_t *p, const int8_t *a, const int8_t *b, int8_t *out) {
  const int32_t a_off = p->a_offset, b_off = p->b_offset, zp = p->out_offset;
  const int32_t mult = p->multiplier, shift = p->shift, lo = p->act_min, hi = p->act_max;
#define MUL_S8(x, y) mc_clamp_s8(mc_requantize(((x) + a_off) * ((y) + b_off), mult, shift) + zp, lo, hi)
  MC_BINARY_LOOP(&p->shape, int8_t, MUL_S8);
#undef MUL_S8
}

void mc_mul_s16(const mc_mul_s8_t *p, const int16_t *a, const int16_t *b, int16_t *out) {
  const int32_t mult = p->multiplier, shift = p->shift, lo = p->act_min, hi = p->act_max;
  /* TFLM's int16 MUL requires zero points 0; the product of two int16 values fits int32 */
#define MUL_S16(x, y) mc_clamp_s16(mc_requantize((int32_t)(x) * (y), mult, shift), lo, hi)
  MC_BINARY_LOOP(&p->shape, int16_t, MUL_S16);
#undef MUL_S16
}

void mc_add_f32(const mc_binary_f32_t *p, const float *a, const float *b, float *out) {
  const float lo = p->act_min, hi = p->act_max;
#define ADD_F32(x, y) mc_clamp_f32((x) + (y), lo, hi)
  MC_BINARY_LOOP(&p->shape, float, ADD_F32);
#undef ADD_F32
}

void mc_sub_f32(const mc_binary_f32_t *p, const float *a, const float *b, float *out) {
  const float lo = p->act_min, hi = p->act_max;
#define SUB_F32(x, y) mc_clamp_f32((x) - (y), lo, hi)
  MC_BINARY_LOOP(&p->shape, float, SUB_F32);
#undef SUB_F32
}

void mc_mul_f32(const mc_binary_f32_t *p, const float *a, const float *b, float *out) {
  const float lo = p->act_min, hi = p->act_max;
#define MUL_F32(x, y) mc_clamp_f32((x) * (y), lo, hi)
  MC_BINARY_LOOP(&p->shape, float, MUL_F32);
#undef MUL_F32
}

/* MAXIMUM, MINIMUM: TFLM compares the raw values (int8 too: no requantization) as MC_MAX/MC_MIN do. */
void mc_maximum_s8(const mc_bcast_t *s, const int8_t *a, const int8_t *b, int8_t *out) {
  MC_BINARY_LOOP(s, int8_t, MC_MAX);
}
void mc_minimum_s8(const mc_bcast_t *s, const int8_t *a, const int8_t *b, int8_t *out) {
  MC_BINARY_LOOP(s, int8_t, MC_MIN);
}
void mc_maximum_s16(const mc_bcast_t *s, const int16_t *a, const int16_t *b, int16_t *out) {
  MC_BINARY_LOOP(s, int16_t, MC_MAX);
}
void mc_minimum_s16(const mc_bcast_t *s, const int16_t *a, const int16_t *b, int16_t *out) {
  MC_BINARY_LOOP(s, int16_t, MC_MIN);
}
void mc_maximum_f32(const mc_bcast_t *s, const float *a, const float *b, float *out) {
  MC_BINARY_LOOP(s, float, MC_MAX);
}
void mc_minimum_f32(const mc_bcast_t *s, const float *a, const float *b, float *out) {
  MC_BINARY_LOOP(s, float, MC_MIN);
}

void mc_div_f32(const mc_binary_f32_t *p, const float *a, const float *b, float *out) {
  const float lo = p->act_min, hi = p->act_max;
#define DIV_F32(x, y) mc_clamp_f32((x) / (y), lo, hi)
  MC_BINARY_LOOP(&p->shape, float, DIV_F32);
#undef DIV_F32
}

void mc_squared_difference_f32(const mc_bcast_t *s, const float *a, const float *b, float *out) {
#define SQDIFF_F32(x, y) (((x) - (y)) * ((x) - (y)))
  MC_BINARY_LOOP(s, float, SQDIFF_F32);
#undef SQDIFF_F32
}

/* SQUARED_DIFFERENCE int8: the rescaled inputs come from tables (as ADD's); the squared difference of
 * the two (|d| < 2^15) is requantized to the output. */
void mc_squared_difference_s8(const mc_sqdiff_s8_t *p, const int8_t *a, const int8_t *b, int8_t *out) {
  const int32_t *ta = p->a_table + 128, *tb = p->b_table + 128;
  const int32_t mult = p->multiplier, shift = p->shift, zp = p->out_offset;
#define SQDIFF_S8(x, y) mc_clamp_s8(mc_requantize((ta[x] - tb[y]) * (ta[x] - tb[y]), mult, shift) + zp, -128, 127)
  MC_BINARY_LOOP(&p->shape, int8_t, SQDIFF_S8);
#undef SQDIFF_S8
}

static int16_t sqdiff_s16(const mc_sqdiff_s16_t *p, int32_t x, int32_t y) {
  const int32_t d = mc_requantize(x, p->a_multiplier, p->a_shift) - mc_requantize(y, p->b_multiplier, p->b_shift);
  return mc_clamp_s16(mc_requantize(d * d, p->multiplier, p->shift), INT16_MIN, INT16_MAX);
}

void mc_squared_difference_s16(const mc_sqdiff_s16_t *p, const int16_t *a, const int16_t *b, int16_t *out) {
#define SQDIFF_S16(x, y) sqdiff_s16(p, (x), (y))
  MC_BINARY_LOOP(&p->shape, int16_t, SQDIFF_S16);
#undef SQDIFF_S16
}

/* int32 (unquantized, as TFLM: the signal front ends' feature scaling). Sums and products wrap in
 * two's complement (TFLM's int32 overflow is undefined; compilers wrap); DIV truncates toward zero,
 * and where C's division is undefined microc gives 0 (division by 0) and INT32_MIN (INT32_MIN / -1). */
static int32_t clamp_s32(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : v > hi ? hi : v; }

static int32_t div_s32(int32_t x, int32_t y) {
  if (y == 0) return 0;
  if (y == -1) return (int32_t)(0u - (uint32_t)x);
  return x / y;
}

void mc_add_s32(const mc_binary_s32_t *p, const int32_t *a, const int32_t *b, int32_t *out) {
  const int32_t lo = p->act_min, hi = p->act_max;
#define ADD_S32(x, y) clamp_s32((int32_t)((uint32_t)(x) + (uint32_t)(y)), lo, hi)
  MC_BINARY_LOOP(&p->shape, int32_t, ADD_S32);
#undef ADD_S32
}

void mc_mul_s32(const mc_binary_s32_t *p, const int32_t *a, const int32_t *b, int32_t *out) {
  const int32_t lo = p->act_min, hi = p->act_max;
#define MUL_S32(x, y) clamp_s32((int32_t)((uint32_t)(x) * (uint32_t)(y)), lo, hi)
  MC_BINARY_LOOP(&p->shape, int32_t, MUL_S32);
#undef MUL_S32
}

void mc_div_s32(const mc_binary_s32_t *p, const int32_t *a, const int32_t *b, int32_t *out) {
  const int32_t lo = p->act_min, hi = p->act_max;
#define DIV_S32(x, y) clamp_s32(div_s32((x), (y)), lo, hi)
  MC_BINARY_LOOP(&p->shape, int32_t, DIV_S32);
#undef DIV_S32
}

void mc_maximum_s32(const mc_bcast_t *s, const int32_t *a, const int32_t *b, int32_t *out) {
  MC_BINARY_LOOP(s, int32_t, MC_MAX);
}
void mc_minimum_s32(const mc_bcast_t *s, const int32_t *a, const int32_t *b, int32_t *out) {
  MC_BINARY_LOOP(s, int32_t, MC_MIN);
}

static int16_t add_s16(const mc_add_s16_t *p, int32_t x, int32_t y) {
  /* Shifted as unsigned: an offset int16 value times 2^15 is below 2^31, as in TFLM. */
  const int32_t sx = (int32_t)((uint32_t)(x + p->a_offset) << p->left_shift);
  const int32_t sy = (int32_t)((uint32_t)(y + p->b_offset) << p->left_shift);
  const int32_t raw = mc_requantize_down(sx, p->a_multiplier, -p->a_shift) +
                      p->b_sign * mc_requantize_down(sy, p->b_multiplier, -p->b_shift);
  return mc_clamp_s16(mc_requantize_down(raw, p->out_multiplier, -p->out_shift) + p->out_offset,
                      p->act_min, p->act_max);
}

void mc_add_s16(const mc_add_s16_t *p, const int16_t *a, const int16_t *b, int16_t *out) {
#define ADD_S16(x, y) add_s16(p, x, y)
  MC_BINARY_LOOP(&p->shape, int16_t, ADD_S16);
#undef ADD_S16
}
