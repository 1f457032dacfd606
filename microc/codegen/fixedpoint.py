"""TFLite Micro's integer arithmetic, reproduced in Python for compile-time lookup tables.

Scalar int32/int16 semantics of gemmlowp's fixedpoint.h and TFLite's common.h (the routines the int8
SOFTMAX, LOGISTIC, TANH and HARD_SWISH reference kernels call), so that a table computed here holds the
exact value TFLM computes for every possible int8 input. Values are Python ints; `wrap32`/`wrap16` give
the two's-complement wraparound the C++ code gets on overflow.
"""
from __future__ import annotations

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1


def wrap32(x: int) -> int:
    return (x + 2**31) % 2**32 - 2**31


def wrap16(x: int) -> int:
    return (x + 2**15) % 2**16 - 2**15


def _trunc_div(a: int, b: int) -> int:
    """C integer division (rounds toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def srdhm(a: int, b: int) -> int:
    """SaturatingRoundingDoublingHighMul for int32."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _trunc_div(ab + nudge, 1 << 31)


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    """gemmlowp's RoundingDivideByPOT for int32 (exponent in [0, 31])."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def saturating_rounding_multiply_by_pot(x: int, exponent: int) -> int:
    """gemmlowp's SaturatingRoundingMultiplyByPOT<exponent> for int32."""
    if exponent <= 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return wrap32(x << exponent)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier (double rounding); x * (1 << left) wraps as in C."""
    left, right = max(shift, 0), max(-shift, 0)
    return rounding_divide_by_pot(srdhm(wrap32(x * (1 << left)), multiplier), right)


# ---- gemmlowp FixedPoint<int32_t, k> functions, on raw values ----

ONE_Q0 = INT32_MAX  # FixedPoint<int32, 0>::One()


def rescale(raw: int, src_bits: int, dst_bits: int) -> int:
    return saturating_rounding_multiply_by_pot(raw, src_bits - dst_bits)


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: int) -> int:
    constant_term = 1895147668  # exp(-1/8)
    constant_1_over_3 = 715827883
    x = wrap32(a + (1 << 28))  # a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(wrap32(srdhm(wrap32(x4_over_4 + x3), constant_1_over_3) + x2), 1)
    return wrap32(constant_term + srdhm(constant_term, wrap32(x + poly)))


_EXP_BARREL = [(-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242)]


def exp_on_negative_values(a: int, integer_bits: int) -> int:
    """exp(a) for a <= 0 given as FixedPoint<int32, integer_bits>; result in Q0.31."""
    frac_bits = 31 - integer_bits
    one_quarter = 1 << (frac_bits - 2)
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = wrap32((a & mask) - one_quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = wrap32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent and remainder & (1 << (frac_bits + exponent)):
            result = srdhm(result, multiplier)
    if integer_bits > 5 and a < -(1 << (36 - integer_bits)):
        result = 0
    return ONE_Q0 if a == 0 else result


def _newton_reciprocal_f2(half_denominator: int) -> int:
    """The Newton-Raphson iterations shared by 1/(1+x) and (1-x)/(1+x): x ~ 1/half_denominator, Q2.29."""
    one_f2 = 1 << 29
    x = wrap32(1515870810 + srdhm(half_denominator, -1010580540))  # 48/17 - 32/17 * d
    for _ in range(3):
        one_minus = wrap32(one_f2 - srdhm(half_denominator, x))
        x = wrap32(x + rescale(srdhm(x, one_minus), 4, 2))
    return x


def rounding_half_sum(a: int, b: int) -> int:
    s = a + b
    return _trunc_div(s + (1 if s >= 0 else -1), 2)


def one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    x = _newton_reciprocal_f2(rounding_half_sum(a, ONE_Q0))
    return rescale(x, 1, 0)  # ExactMulByPot<-1> keeps the raw value: Q2.29 read as Q1.30


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    x = _newton_reciprocal_f2(rounding_half_sum(a, ONE_Q0))
    return rescale(wrap32(x - (1 << 29)), 2, 0)


def logistic(a: int, integer_bits: int) -> int:
    """gemmlowp::logistic of FixedPoint<int32, integer_bits>; result in Q0.31."""
    if a == 0:
        return 1 << 30
    result_if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-abs(a), integer_bits))
    return result_if_positive if a > 0 else wrap32(ONE_Q0 - result_if_positive)


def tanh(a: int, integer_bits: int) -> int:
    """gemmlowp::tanh of FixedPoint<int32, integer_bits>; result in Q0.31."""
    if a == 0:
        return 0
    n = -abs(a)
    # ExactMulByPot<1>: the same raw value read with one more integer bit, i.e. 2 * n
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return -t if a < 0 else t


def get_reciprocal(x: int, x_integer_digits: int) -> tuple[int, int]:
    """TFLite's GetReciprocal: (1/x in Q0.31 scaled by 2^-num_bits_over_unit, num_bits_over_unit)."""
    headroom_plus_one = 32 - (x & 0xFFFFFFFF).bit_length()
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted_sum_minus_one = wrap32(((x & 0xFFFFFFFF) << headroom_plus_one) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


# ---- int16 arithmetic of the HARD_SWISH reference kernel ----


def srdhm16(a: int, b: int) -> int:
    if a == b == INT16_MIN:
        return INT16_MAX
    ab = a * b
    nudge = (1 << 14) if ab >= 0 else 1 - (1 << 14)
    return wrap16(_trunc_div(ab + nudge, 1 << 15))


def saturating_doubling_high_mul16(a: int, b: int) -> int:
    """TFLite's SaturatingDoublingHighMul (no rounding)."""
    if a == b == INT16_MIN:
        return INT16_MAX
    return wrap16(_trunc_div(a * b, 1 << 15))


def saturating_left_shift16(value: int, amount: int) -> int:
    return max(INT16_MIN, min(INT16_MAX, value * (1 << amount)))


def rounding_divide_by_pot16(x: int, exponent: int) -> int:
    """gemmlowp's RoundingDivideByPOT instantiated for int16: the mask is truncated to 16 bits."""
    mask = wrap16((1 << exponent) - 1)
    remainder = wrap16(x & mask)
    threshold = wrap16((mask >> 1) + (1 if x < 0 else 0))
    shifted = x >> exponent if exponent < 32 else (-1 if x < 0 else 0)
    return wrap16(shifted + (1 if remainder > threshold else 0))


def down_scale_int32_to_int16_multiplier(m: int) -> int:
    if m >= INT32_MAX - (1 << 15):
        return INT16_MAX
    return (m + (1 << 15)) >> 16


def inv_sqrt_quantized_multiplier_exp(x: int, reverse_shift: int) -> tuple[int, int]:
    """TFLite's GetInvSqrtQuantizedMultiplierExp (common.h): 1/sqrt(x) as (multiplier, shift), by five
    Newton-Raphson steps in gemmlowp's FixedPoint<int32, 3>."""
    if x <= 1:
        return INT32_MAX, 0
    shift = 11
    while x >= 1 << 29:
        x //= 4
        shift += 1
    pairs = ((32 - x.bit_length()) - 1) // 2 - 1  # CountLeadingZeros(x) - 1 bits, in pairs, less one
    shift -= pairs
    x <<= 2 * pairs
    half_input = rounding_divide_by_pot(x >> 1, 1)  # F3 input, halved
    half_three = (1 << 28) + (1 << 27)  # 1.5 in F3
    v = 1 << 28  # F3::One()
    for _ in range(5):
        v3 = rescale(srdhm(srdhm(v, v), v), 9, 3)
        v = rescale(wrap32(srdhm(half_three, v) - srdhm(half_input, v3)), 6, 3)
    v = srdhm(v, 1518500250)  # times sqrt(2)/2 in F0
    if shift < 0:
        v, shift = wrap32(v << -shift), 0
    return v, shift * reverse_shift
