"""Compile-time quantization arithmetic against values worked out by hand from TFLite's definitions."""
import numpy as np

from microc.codegen.quant import activation_range, quantize_multiplier, tflite_round
from microc.ir import Quant, Tensor


def test_quantize_multiplier_matches_frexp_decomposition():
    assert quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantize_multiplier(1.0) == (1 << 30, 1)
    assert quantize_multiplier(0.75) == (1610612736, 0)
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(2.0 ** -30) == (1 << 30, -29)
    assert quantize_multiplier(2.0 ** -33) == (0, 0)  # shift below -31 flushes to zero


def test_quantize_multiplier_rounds_up_into_the_next_power_of_two():
    m = (1 - 2.0 ** -33)  # frac * 2^31 rounds to exactly 2^31
    assert quantize_multiplier(m) == (1 << 30, 1)


def test_rounding_is_half_away_from_zero():
    assert [tflite_round(v) for v in (0.5, 1.5, 2.5, -0.5, -2.5)] == [1, 2, 3, -1, -3]


def test_fused_activation_ranges_are_quantized_like_tflite():
    t = Tensor("y", (1,), "int8", Quant(np.array([0.05]), np.array([-10])))
    assert activation_range("NONE", t) == (-128, 127)
    assert activation_range("RELU", t) == (-10, 127)
    assert activation_range("RELU6", t) == (-10, 110)
    assert activation_range("RELU_N1_TO_1", t) == (-30, 10)
