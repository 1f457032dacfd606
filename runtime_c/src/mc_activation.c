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

/* ---- LOGISTIC and TANH int16 (TFLM's reference_integer_ops::Logistic/Tanh): the input rescaled by
 * multiplier and left_shift (computed at compile time), then linear interpolation in TFLite's table of
 * sigmoid(i / 24) in 0.16 fixed point (its 256 values, as TFLite defines them: up to 0.84 above the
 * exact rounding, so they are data, not a formula); tanh(x) = 2 sigmoid(2x) - 1 reads it with one more
 * fractional bit. Output scale 2^-15, zero points 0. */
static const uint16_t sigmoid_table[256] = {
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149,
    40794, 41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369,
    47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169,
    53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370,
    60565, 60753, 60935, 61110, 61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302,
    62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186, 63279, 63368, 63454, 63536,
    63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786,
    64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079,
    65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234, 65246, 65258,
    65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474,
    65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498,
    65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522,
    65523, 65523, 65524, 65524, 65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528,
    65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530, 65530, 65530, 65531, 65531,
    65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65534, 65535};

static int32_t sigmoid_input(const mc_sigmoid_s16_t *p, int16_t x) {
  const int32_t round = p->left_shift > 0 ? (int32_t)1 << (p->left_shift - 1) : 0;
  return ((int32_t)x * p->multiplier + round) >> p->left_shift;
}

void mc_logistic_s16(const mc_sigmoid_s16_t *p, const int16_t *in, int16_t *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t x = sigmoid_input(p, in[i]);
    const uint32_t ax = (uint32_t)(x < 0 ? -x : x), uh = ax >> 9;
    uint32_t r;
    if (uh >= 255) {
      r = (uint32_t)0x7FFF << 10;
    } else {
      const uint32_t ua = sigmoid_table[uh], ub = sigmoid_table[uh + 1];
      r = (ua << 9) + (ax & 0x1FF) * (ub - ua);
    }
    r = x >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1u;
    out[i] = (int16_t)(r >> 10);
  }
}

void mc_tanh_s16(const mc_sigmoid_s16_t *p, const int16_t *in, int16_t *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t x = sigmoid_input(p, in[i]);
    const uint32_t ax = (uint32_t)(x < 0 ? -x : x), uh = ax >> 8;
    int32_t r;
    if (uh >= 255) {
      r = (int32_t)0xFFFF << 8;
    } else {
      const int32_t ua = sigmoid_table[uh], ub = sigmoid_table[uh + 1];
      r = (ua << 8) + (int32_t)(ax & 0xFF) * (ub - ua);
    }
    r = x >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
    out[i] = (int16_t)(r >> 8);
  }
}

/* TFLite's LUTLookup: 512 segments over the int16 range, linear interpolation on the low 7 bits. */
static int16_t lut_s16(int16_t v, const int16_t *t) {
  const int32_t idx = 256 + (v >> 7), off = v & 0x7F;
  const int32_t base = t[idx], slope = t[idx + 1] - t[idx];
  return (int16_t)(base + ((slope * off + 64) >> 7));
}

static int32_t clamp_s16(int32_t v) { return v < -32768 ? -32768 : (v > 32767 ? 32767 : v); }

void mc_softmax_s16(const mc_softmax_s16_t *p, const int16_t *in, int16_t *out) {
  int32_t r, c;
  for (r = 0; r < p->rows; ++r, in += p->depth, out += p->depth) {
    int16_t max = INT16_MIN, rec;
    int32_t sum = 0, lz = 0, right;
    for (c = 0; c < p->depth; ++c) max = in[c] > max ? in[c] : max;
    for (c = 0; c < p->depth; ++c) { /* exp values wait in the output row */
      const int32_t d = mc_requantize((int32_t)in[c] - max, p->multiplier, p->shift);
      out[c] = lut_s16((int16_t)clamp_s16(d + 32767), p->exp_lut);
      sum += out[c];
    }
    while (lz < 32 && !(((uint32_t)sum << lz) & 0x80000000u)) ++lz; /* sum >= 1: lz <= 31 */
    rec = lut_s16((int16_t)clamp_s16((int32_t)((((int64_t)sum << (lz - 1)) + (1 << 13)) >> 14) -
                                     ((1 << 15) + (1 << 16))), p->recip_lut);
    right = 31 - lz;
    for (c = 0; c < p->depth; ++c) {
      const int32_t v = (int32_t)(((int64_t)out[c] * rec + ((int64_t)1 << (right - 1))) >> right);
      out[c] = (int16_t)(v < 0 ? 0 : (v > 32767 ? 32767 : v));
    }
  }
}
