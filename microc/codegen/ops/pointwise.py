"""Lowerings of the pointwise kernels (runtime_c/include/mc_pointwise.h): RELU, RELU6, RELU_N1_TO_1,
LEAKY_RELU, QUANTIZE, DEQUANTIZE.

Every int8 -> int8 element-wise operator is a 256-entry table computed here with TFLite Micro's exact
integer arithmetic (microc/codegen/fixedpoint.py): one load per element on the device."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from microc.codegen.fixedpoint import INT32_MIN, multiply_by_quantized_multiplier
from microc.codegen.lowering import LoweringContext, c_float, lowering, unsupported
from microc.codegen.ops.common import require_dtype
from microc.codegen.quant import quantize_multiplier, tflite_round
from microc.ir import DTYPE_BYTES, Op, Tensor

INT8_INPUTS = range(-128, 128)


def f32(x: float) -> float:
    """A value rounded to float32, as TFLM's float arithmetic in Prepare leaves it."""
    return float(np.float32(x))


def per_tensor(op: Op, t: Tensor) -> tuple[float, int]:
    """(float32 scale, zero point) of a per-tensor quantized tensor, or an error naming the problem."""
    if t.quant is None or t.quant.per_channel:
        raise unsupported(op, f"tensor '{t.name}' must be quantized per tensor")
    return f32(t.quant.s), t.quant.zp


def int8_table(fn: Callable[[int], int]) -> np.ndarray:
    """fn over every int8 input (index x + 128), clamped to int8."""
    return np.array([max(-128, min(127, fn(x))) for x in INT8_INPUTS], np.int8)


def lut_call(op: Op, ctx: LoweringContext, table: np.ndarray) -> str:
    x, y = op.inputs[0], op.outputs[0]
    return f"mc_lut_s8({ctx.const(table, 'lut', 'int8_t')}, {ctx.ptr(x)}, {ctx.ptr(y)}, {y.size});"


def requantize_fn(op: Op, x: Tensor, y: Tensor) -> Callable[[int], int]:
    """q -> out_zp + MultiplyByQuantizedMultiplier(q - in_zp, in_scale / out_scale) (in double)."""
    (in_s, in_zp), (out_s, out_zp) = per_tensor(op, x), per_tensor(op, y)
    mult, shift = quantize_multiplier(in_s / out_s)
    return lambda q: out_zp + multiply_by_quantized_multiplier(q - in_zp, mult, shift)


def _relu_f32(op: Op, ctx: LoweringContext, hi: float, lo: float = 0.0) -> str:
    y = op.outputs[0]
    p = ctx.struct("mc_relu_f32_t", "relu", {"size": y.size, "lo": c_float(lo), "hi": c_float(hi)})
    return f"mc_relu_f32({p}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(y)});"


def _relu_s16(op: Op, ctx: LoweringContext, multiplier: int, shift: int, lo: int, hi: int) -> str:
    x, y = op.inputs[0], op.outputs[0]
    if per_tensor(op, x)[1] != 0 or per_tensor(op, y)[1] != 0:
        raise unsupported(op, "int16 input and output need zero point 0")
    p = ctx.struct("mc_relu_s16_t", "relu", {"size": y.size, "multiplier": multiplier, "shift": shift,
                                              "lo": lo, "hi": hi})
    return f"mc_relu_s16({p}, {ctx.ptr(x)}, {ctx.ptr(y)});"


@lowering("RELU")
def lower_relu(op: Op, ctx: LoweringContext) -> str:
    dtype = require_dtype(op, ("int8", "int16", "float32"))
    if dtype == "float32":
        return _relu_f32(op, ctx, math.inf)
    if dtype == "int16":  # TFLM's CalculateReluOpData: the scale ratio in float32, then in double
        (in_s, _), (out_s, _) = per_tensor(op, op.inputs[0]), per_tensor(op, op.outputs[0])
        return _relu_s16(op, ctx, *quantize_multiplier(f32(in_s / out_s)), 0, 32767)
    x, y = op.inputs[0], op.outputs[0]
    requant, act_min = requantize_fn(op, x, y), max(-128, per_tensor(op, y)[1])
    return lut_call(op, ctx, int8_table(lambda q: max(act_min, requant(q))))


def float_to_int32_x86(v: float) -> int:
    """(int32_t) of a double on x86, where TFLM's reference runs: out-of-range values become INT32_MIN."""
    return int(v) if -(2.0**31) <= v < 2.0**31 else INT32_MIN


@lowering("RELU6")
def lower_relu6(op: Op, ctx: LoweringContext) -> str:
    dtype = require_dtype(op, ("int8", "int16", "float32"))
    if dtype == "float32":
        return _relu_f32(op, ctx, 6.0)
    # TFLM clamps raw int8 values to [zp, quantize(6.0)] on the input's scale (no requantization).
    scale, zp = per_tensor(op, op.inputs[0])
    if dtype == "int16":  # FloatToQuantizedType clamps six to int16; an identity multiplier (2^30, shift 1)
        six = max(-32768, min(32767, float_to_int32_x86(tflite_round(f32(6.0 / scale)) + zp)))
        return _relu_s16(op, ctx, 1 << 30, 1, zp, six)
    six = max(-128, min(127, float_to_int32_x86(tflite_round(f32(6.0 / scale)) + zp)))
    return lut_call(op, ctx, int8_table(lambda q: min(six, max(zp, q))))


@lowering("RELU_N1_TO_1")
def lower_relu_n1_to_1(op: Op, ctx: LoweringContext) -> str:
    """TFLite's ReluN1To1 (TFLM has no kernel for it; its arithmetic is TFLM's int8 RELU with the
    bounds -1 and 1): requantize to the output, then clamp to the output's quantized -1 and 1."""
    if require_dtype(op) == "float32":
        return _relu_f32(op, ctx, 1.0, -1.0)
    x, y = op.inputs[0], op.outputs[0]
    requant, (out_s, out_zp) = requantize_fn(op, x, y), per_tensor(op, y)
    # quantized bound: zp + round(float32 bound / scale); past int32 it is past int8 anyway
    lo = max(-128, out_zp + tflite_round(f32(-1.0 / out_s)))
    hi = min(127, out_zp + tflite_round(f32(1.0 / out_s)))
    return lut_call(op, ctx, int8_table(lambda q: min(hi, max(lo, requant(q)))))


@lowering("LEAKY_RELU")
def lower_leaky_relu(op: Op, ctx: LoweringContext) -> str:
    x, y = op.inputs[0], op.outputs[0]
    alpha = f32(op.attrs.get("alpha", 0.0))  # TFLM leaves it 0 without options
    dtype = require_dtype(op, ("int8", "int16", "float32"))
    if dtype == "float32":
        p = ctx.struct("mc_leaky_relu_f32_t", "leaky", {"size": y.size, "alpha": c_float(alpha)})
        return f"mc_leaky_relu_f32({p}, {ctx.ptr(x)}, {ctx.ptr(y)});"
    (in_s, in_zp), (out_s, out_zp) = per_tensor(op, x), per_tensor(op, y)
    # TFLM's Prepare computes both ratios in float32, then quantizes them in double.
    m_alpha, s_alpha = quantize_multiplier(f32(f32(in_s * alpha) / out_s))
    m_id, s_id = quantize_multiplier(f32(in_s / out_s))
    if dtype == "int16":
        # The installed TFLM's int16 path takes both ratios in double (checked on all 65,536 inputs).
        m_alpha, s_alpha = quantize_multiplier(in_s * alpha / out_s)
        m_id, s_id = quantize_multiplier(in_s / out_s)
        p = ctx.struct("mc_leaky_relu_s16_t", "leaky", {
            "size": y.size, "in_zp": in_zp, "out_zp": out_zp, "m_identity": m_id, "s_identity": s_id,
            "m_alpha": m_alpha, "s_alpha": s_alpha})
        return f"mc_leaky_relu_s16({p}, {ctx.ptr(x)}, {ctx.ptr(y)});"

    def leaky(q: int) -> int:
        v = q - in_zp
        m, s = (m_id, s_id) if v >= 0 else (m_alpha, s_alpha)
        return out_zp + multiply_by_quantized_multiplier(v, m, s)
    return lut_call(op, ctx, int8_table(leaky))


INT_TYPES = ("int8", "int16", "int32")


@lowering("QUANTIZE")
def lower_quantize(op: Op, ctx: LoweringContext) -> str:
    """float32 -> int8/int16 (AffineQuantize); between int8, int16 and int32 (TFLM's Requantize), int8
    -> int8 as a table."""
    x, y = op.inputs[0], op.outputs[0]
    ints = x.dtype in INT_TYPES and y.dtype in INT_TYPES and not x.dtype == y.dtype == "int32"
    if not (ints or (x.dtype == "float32" and y.dtype in ("int8", "int16"))):
        raise unsupported(op, f"{x.dtype} -> {y.dtype} is not supported (supported: float32 -> int8/int16, "
                              "between int8, int16 and int32)")
    out_s, out_zp = per_tensor(op, y)
    if x.dtype == y.dtype == "int8":
        return lut_call(op, ctx, int8_table(requantize_fn(op, x, y)))
    if x.dtype == "float32":
        p = ctx.struct("mc_quantize_f32_s8_t", "quant", {"size": y.size, "scale": c_float(out_s),
                                                          "zero_point": out_zp})
        return f"mc_quantize_f32_{'s8' if y.dtype == 'int8' else 's16'}({p}, {ctx.ptr(x)}, {ctx.ptr(y)});"
    (in_s, in_zp) = per_tensor(op, x)
    mult, shift = quantize_multiplier(in_s / out_s)  # TFLM: double(input scale) / double(output scale)
    p = ctx.struct("mc_requantize_t", "requant", {
        "size": y.size, "in_bytes": DTYPE_BYTES[x.dtype], "out_bytes": DTYPE_BYTES[y.dtype],
        "in_zp": in_zp, "out_zp": out_zp, "multiplier": mult, "shift": shift})
    return f"mc_requantize_ints({p}, {ctx.ptr(x)}, {ctx.ptr(y)});"


@lowering("DEQUANTIZE")
def lower_dequantize(op: Op, ctx: LoweringContext) -> str:
    x, y = op.inputs[0], op.outputs[0]
    if x.dtype not in ("int8", "int16") or y.dtype != "float32":
        raise unsupported(op, f"{x.dtype} -> {y.dtype} is not supported (supported: int8/int16 -> float32)")
    scale, zp = per_tensor(op, x)
    if x.dtype == "int16":
        p = ctx.struct("mc_dequantize_t", "dequant", {"size": y.size, "scale": c_float(scale), "zero_point": zp})
        return f"mc_dequantize_s16_f32({p}, {ctx.ptr(x)}, {ctx.ptr(y)});"
    # TFLM: (float)(double scale * (q - zp)); tabulated, so the device does no double arithmetic.
    table = np.array([scale * (q - zp) for q in INT8_INPUTS], np.float64).astype(np.float32)
    return f"mc_lut_s8_f32({ctx.const(table, 'lut', 'float')}, {ctx.ptr(x)}, {ctx.ptr(y)}, {y.size});"
