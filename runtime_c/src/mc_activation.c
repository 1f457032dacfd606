/* SOFTMAX, LOGISTIC, TANH, HARD_SWISH (mc_activation.h), with the arithmetic of TFLite Micro's reference
 * kernels. The int8 LOGISTIC/TANH/HARD_SWISH are lookup tables (mc_lut_s8); SOFTMAX int8 tabulates only
 * its exp and computes the sum and reciprocal here, as gemmlowp does. */
#include "mc_kernels.h"

/* gemmlowp's SaturatingRoundingMultiplyByPOT<exponent> for 0 < exponent < 31. */
static int32_t sat_shift_left(int32_t x, int exponent) {
  const int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << exponent);
}

/* gemmlowp's one_over_one_plus_x_for_x_in_0_1: Newton-Raphson in Q2.29, the result in Q0.31. */
static int32_t one_over_one_plus_x(int32_t a) {
  const int64_t sum = (int64_t)a + INT32_MAX;
  const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
  int32_t x = 1515870810 + mc_srdhm(half_denominator, -1010580540); /* 48/17 - 32/17 * d */
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t one_minus_dx = ((int32_t)1 << 29) - mc_srdhm(half_denominator, x);
    x += sat_shift_left(mc_srdhm(x, one_minus_dx), 2);
  }
  return sat_shift_left(x, 1);
}

static int32_t count_leading_zeros(uint32_t x) {
  int32_t n = 0;
  while (n < 32 && !(x & 0x80000000u)) {
    x <<= 1;
    ++n;
  }
  return n;
}

/* x >> exponent with TFLM's rounding, for exponents up to 34 (a row whose exp sum is near 2^31). */
static int32_t rounding_shift_wide(int32_t x, int32_t exponent) {
  if (exponent <= 31) return mc_rounding_divide_by_pot(x, exponent);
  return 0; /* x is a non-negative Q0.31 value below 2^31: the exact quotient rounds to 0 */
}

/* One row of TFLM's int8 Softmax: each output is (scale * exp) rounded to out_bits bits (8: int8 or 16:
 * int16 output, TFLM's exponent num_bits_over_unit + 31 - out_bits), offset by the type's minimum. */
static void softmax_row_s8(const int32_t *exp_table, const int8_t *x, int32_t depth, int32_t out_bits,
                           int8_t *y8, int16_t *y16) {
  int32_t c, max = -128, bits_over_unit, scale, out_shift;
  const int32_t lowest = -((int32_t)1 << (out_bits - 1)), highest = -lowest - 1;
  uint32_t sum = 0; /* Q12.19; unsigned so that rows TFLM rejects (sum >= 2^28) stay defined */
  for (c = 0; c < depth; ++c) max = x[c] > max ? x[c] : max;
  /* Each exp rescaled from Q0.31 to the sum's Q12.19 (at most 2^19 each; depth < 8192). */
  for (c = 0; c < depth; ++c) sum += (uint32_t)mc_rounding_divide_by_pot(exp_table[max - x[c]], 12);
  {
    const int32_t headroom_plus_one = count_leading_zeros(sum);
    const int32_t shifted_sum_minus_one = (int32_t)((sum << headroom_plus_one) - 0x80000000u);
    bits_over_unit = 12 - headroom_plus_one;
    scale = one_over_one_plus_x(shifted_sum_minus_one);
  }
  out_shift = bits_over_unit + 31 - out_bits;
  for (c = 0; c < depth; ++c) {
    int32_t v = rounding_shift_wide(mc_srdhm(scale, exp_table[max - x[c]]), out_shift) + lowest;
    v = v > highest ? highest : v;
    if (y8) y8[c] = (int8_t)v;
    else y16[c] = (int16_t)v;
  }
}

void mc_softmax_s8(const mc_softmax_s8_t *p, const int8_t *in, int8_t *out) {
  int32_t r;
  for (r = 0; r < p->rows; ++r)
    softmax_row_s8(p->exp_table, in + r * p->depth, p->depth, 8, out + r * p->depth, 0);
}

void mc_softmax_s8_s16(const mc_softmax_s8_t *p, const int8_t *in, int16_t *out) {
  int32_t r;
  for (r = 0; r < p->rows; ++r)
    softmax_row_s8(p->exp_table, in + r * p->depth, p->depth, 16, 0, out + r * p->depth);
}

void mc_softmax_f32(const mc_softmax_f32_t *p, const float *in, float *out) {
  int32_t r, c;
  for (r = 0; r < p->rows; ++r) {
    const float *x = in + r * p->depth;
    float *y = out + r * p->depth;
    float max = x[0], sum = 0.0f, inv;
    for (c = 1; c < p->depth; ++c) max = x[c] > max ? x[c] : max;
    for (c = 0; c < p->depth; ++c) {
      y[c] = expf((x[c] - max) * p->beta);
      sum += y[c];
    }
    inv = 1.0f / sum;
    for (c = 0; c < p->depth; ++c) y[c] *= inv;
  }
}

void mc_logistic_f32(const float *in, float *out, int32_t n) {
  int32_t i;
  for (i = 0; i < n; ++i) {
    const float v = in[i];
    /* TFLM's cutoffs: 1 above, exp(v) far below, where 1 / (1 + exp(-v)) loses nothing. */
    out[i] = v > 16.619047164916992188f ? 1.0f : (v < -9.0f ? expf(v) : 1.0f / (1.0f + expf(-v)));
  }
}

void mc_tanh_f32(const float *in, float *out, int32_t n) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = tanhf(in[i]);
}

void mc_hard_swish_f32(const float *in, float *out, int32_t n) {
  int32_t i;
  for (i = 0; i < n; ++i) {
    const float v = in[i];
    out[i] = v * mc_clamp_f32(v + 3.0f, 0.0f, 6.0f) * (1.0f / 6.0f);
  }
}
