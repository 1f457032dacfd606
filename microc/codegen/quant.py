"""Compile-time quantization arithmetic, done in double precision exactly as TFLite does it."""
from __future__ import annotations

import math

import numpy as np

from microc.ir import Tensor

QMIN = {"int8": -128, "uint8": 0, "int16": -32768, "int32": -(2**31)}
QMAX = {"int8": 127, "uint8": 255, "int16": 32767, "int32": 2**31 - 1}


def tflite_round(x: float) -> int:
    """std::round: halves away from zero (Python's round() goes to even)."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def quantize_multiplier(m: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: m = q * 2^(shift - 31) with q a Q31 int32 (frexp-based)."""
    if m == 0.0:
        return 0, 0
    frac, shift = math.frexp(m)
    q = tflite_round(frac * (1 << 31))
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q, shift


def reduced_multiplier(q: int, shift: int) -> tuple[int, int]:
    """TFLM's MultiplyByQuantizedMultiplier for an int64 accumulator, its compile-time half: the Q31
    multiplier rounded to 16 bits (saturating) and the total right shift 15 - shift
    (mc_requantize64)."""
    return (q + (1 << 15)) >> 16 if q < 0x7FFF0000 else 0x7FFF, 15 - shift


def quantize_multiplier_smaller_than_one_exp(m: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplierSmallerThanOneExp (used by ADD/SUB); shift <= 0."""
    q, shift = quantize_multiplier(m)
    assert shift <= 0, f"multiplier {m} is not smaller than one"
    return q, shift


def per_channel_multipliers(inp: Tensor, weights: Tensor, out: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Conv/depthwise/FC requantization per output channel: input_scale * filter_scale / output_scale,
    each a float32 widened to double, as TFLite Micro's PopulateConvolutionQuantizationParams does."""
    scales = weights.quant.scale
    if scales.size == 1:
        scales = np.repeat(scales, out.shape[-1])
    in_s, out_s = float(np.float32(inp.quant.s)), float(np.float32(out.quant.s))
    pairs = [quantize_multiplier(in_s * float(np.float32(s)) / out_s) for s in scales]
    return np.array([p[0] for p in pairs], np.int32), np.array([p[1] for p in pairs], np.int32)


def quantize_value(x: float, t: Tensor) -> int:
    """TFLite's Quantize(): zero_point + round(x / scale), with the division in float32."""
    return t.quant.zp + tflite_round(float(np.float32(x) / np.float32(t.quant.s)))


def activation_range(activation: str, t: Tensor) -> tuple[float, float] | tuple[int, int]:
    """The clamp range of a fused activation: quantized for integer tensors, real for float."""
    if t.dtype == "float32":
        return {"NONE": (-math.inf, math.inf), "RELU": (0.0, math.inf), "RELU6": (0.0, 6.0),
                "RELU_N1_TO_1": (-1.0, 1.0)}[activation]
    qmin, qmax = QMIN[t.dtype], QMAX[t.dtype]
    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize_value(0.0, t)), qmax
    if activation == "RELU6":
        return max(qmin, quantize_value(0.0, t)), min(qmax, quantize_value(6.0, t))
    if activation == "RELU_N1_TO_1":
        return max(qmin, quantize_value(-1.0, t)), min(qmax, quantize_value(1.0, t))
    raise ValueError(f"fused activation {activation} is not supported")

