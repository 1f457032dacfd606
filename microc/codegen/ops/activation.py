"""Lowerings of the activation kernels (runtime_c/include/mc_activation.h): SOFTMAX, LOGISTIC, TANH,
HARD_SWISH. Int8 LOGISTIC/TANH/HARD_SWISH become 256-entry tables (mc_lut_s8) holding what TFLite Micro's
fixed-point kernels compute for each input; SOFTMAX int8 tabulates its exp per (max - x) difference."""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math

import numpy as np

from microc.codegen import fixedpoint as fp
from microc.codegen.lowering import LoweringContext, c_float, isa_schedules, lowering, unsupported
from microc.codegen.ops.common import require_dtype
from microc.codegen.ops.pointwise import f32, int8_table, lut_call, per_tensor
from microc.codegen.quant import quantize_multiplier, tflite_round
from microc.ir import Op


def _elementwise_f32(op: Op, ctx: LoweringContext, kernel: str) -> str:
    x, y = op.inputs[0], op.outputs[0]
    return f"{kernel}({ctx.ptr(x)}, {ctx.ptr(y)}, {y.size});"


def input_radius(integer_bits: int, left_shift: int) -> int:
    """TFLite's CalculateInputRadius (total_signed_bits 31)."""
    return math.floor((2**integer_bits - 1) * 2.0 ** (31 - integer_bits) / 2.0**left_shift)


def q4_input_params(op: Op) -> tuple[int, int, int, int]:
    """LOGISTIC/TANH Prepare: (zero point, radius, multiplier, shift) taking input to Q4.27 (frexp-based)."""
    scale, zp = per_tensor(op, op.inputs[0])
    q, shift = math.frexp(scale * 2.0**27)
    mult = tflite_round(q * 2.0**31)
    if shift < 0 or mult >= 2**31:  # TFLM shifts by a negative count / overflows int32 here
        raise unsupported(op, f"input scale {scale:g} is outside what TFLM's int8 kernel handles")
    return zp, input_radius(4, shift), mult, shift


def saturating_q4_table(op: Op, fn) -> np.ndarray:
    """TFLM's LOGISTIC/TANH int8 shape: saturate beyond the radius, else fn(input in Q4.27)."""
    zp, radius, mult, shift = q4_input_params(op)

    def entry(q: int) -> int:
        v = q - zp
        if v <= -radius:
            return -128
        if v >= radius:
            return 127
        return fn(fp.multiply_by_quantized_multiplier(v, mult, shift))
    return int8_table(entry)


def checked_log2(x: float) -> tuple[bool, int]:
    """TFLite's CheckedLog2 in float32: (x is a power of two within 1e-3 of a bit, rounded log2)."""
    lg = np.float32(np.log(np.float32(x))) * (np.float32(1.0) / np.float32(np.log(np.float32(2.0))))
    rounded = np.float32(tflite_round(float(lg)))
    return bool(abs(np.float32(lg - rounded)) < np.float32(1e-3)), int(rounded)


def sigmoid_s16(op: Op, ctx: LoweringContext, pot_shifts: tuple[int, ...]) -> str:
    """int16 LOGISTIC/TANH (TFLM's CalculateArithmeticOpDataLogistic / TanhPrepare): the input's
    rescale to the table's 1/(3 * 4096) steps; a power-of-two input scale with one of `pot_shifts`
    becomes the multiplier 3 << shift."""
    x, y = op.inputs[0], op.outputs[0]
    (in_s, in_zp), (out_s, out_zp) = per_tensor(op, x), per_tensor(op, y)
    if in_zp or out_zp:  # TFLM checks both
        raise unsupported(op, "int16 input and output need zero point 0")
    if checked_log2(out_s) != (True, -15):
        raise unsupported(op, f"int16 output scale must be 2^-15 (got {out_s:g})")
    pot, log2 = checked_log2(in_s)
    shift = 12 + log2  # (15 - 3 integer bits) + log2(scale)
    if pot and shift in pot_shifts:
        mult, shift = 3 << shift, 0
    else:
        m, shift = in_s * 4096.0 * 3.0, 0
        while m <= 32767.0 / 2.0 and shift <= 30:
            shift, m = shift + 1, m * 2.0
        mult = int(m)
        if mult > 32767:  # TFLM's DCHECK: the input scale is too large for the table
            raise unsupported(op, f"int16 input scale {in_s:g} is too large for TFLM's table (at most ~2.67)")
    p = ctx.struct("mc_sigmoid_s16_t", op.type.lower(), {"size": y.size, "multiplier": mult, "left_shift": shift})
    return f"mc_{op.type.lower()}_s16({p}, {ctx.ptr(x)}, {ctx.ptr(y)});"


@lowering("LOGISTIC")
def lower_logistic(op: Op, ctx: LoweringContext) -> str:
    dtype = require_dtype(op, ("int8", "int16", "float32"))
    if dtype == "float32":
        return _elementwise_f32(op, ctx, "mc_logistic_f32")
    if dtype == "int16":
        return sigmoid_s16(op, ctx, (0,))
    if per_tensor(op, op.outputs[0])[1] != -128:  # TFLM checks this in Prepare
        raise unsupported(op, "int8 output zero point must be -128")
    return lut_call(op, ctx, saturating_q4_table(
        op, lambda q4: fp.rounding_divide_by_pot(fp.logistic(q4, 4), 23) - 128))


@lowering("TANH")
def lower_tanh(op: Op, ctx: LoweringContext) -> str:
    dtype = require_dtype(op, ("int8", "int16", "float32"))
    if dtype == "float32":
        return _elementwise_f32(op, ctx, "mc_tanh_f32")
    if dtype == "int16":
        return sigmoid_s16(op, ctx, (0, 1))
    # TFLM assumes output scale 1/128 and zero point 0 without checking them; the table does the same.
    return lut_call(op, ctx, saturating_q4_table(
        op, lambda q4: fp.rounding_divide_by_pot(fp.tanh(q4, 4), 24)))


def _int16_multiplier(m: float) -> tuple[int, int]:
    q, shift = quantize_multiplier(m)
    return fp.down_scale_int32_to_int16_multiplier(q), shift


def hard_swish_table(op: Op) -> np.ndarray:
    """TFLM's reference HardSwish<int8_t>: int16 fixed-point, multipliers from float32 scale ratios."""
    (in_s, in_zp), (out_s, out_zp) = per_tensor(op, op.inputs[0]), per_tensor(op, op.outputs[0])
    hires_s = f32(in_s / 128.0)
    out_m, out_exp = _int16_multiplier(f32(hires_s / out_s))
    relu_m, relu_exp = _int16_multiplier(f32(hires_s / f32(3.0 / 32768.0)))
    if out_exp > 0:  # TF_LITE_ENSURE in TFLM's Prepare
        raise unsupported(op, "int8 output scale must be at least input scale / 128")

    def entry(q: int) -> int:
        hires = fp.wrap16(fp.wrap16(q - in_zp) * 128)
        preshift_out = fp.srdhm16(hires, out_m)
        reluish = hires
        if relu_exp > 0:
            reluish = fp.saturating_left_shift16(reluish, relu_exp - 1)
        reluish = fp.srdhm16(reluish, relu_m)
        if relu_exp > 0:
            reluish = fp.saturating_left_shift16(reluish, 1)
        if relu_exp < 0:
            reluish = fp.rounding_divide_by_pot16(reluish, -relu_exp)
        reluish = (reluish + (1 << 15)) >> 1
        out = fp.rounding_divide_by_pot16(fp.saturating_doubling_high_mul16(reluish, preshift_out), -out_exp)
        return fp.wrap16(out + out_zp)
    return int8_table(entry)


@lowering("HARD_SWISH")
def lower_hard_swish(op: Op, ctx: LoweringContext) -> str:
    if require_dtype(op) == "float32":
        return _elementwise_f32(op, ctx, "mc_hard_swish_f32")
    return lut_call(op, ctx, hard_swish_table(op))


def softmax_exp_table(op: Op, beta: float) -> np.ndarray:
    """exp(beta * scale * -d) in Q0.31 for d = max - x in 0..255, as TFLM's int8 Softmax computes it
    (PreprocessSoftmaxScaling to Q5.26, diff_min cut-off, gemmlowp exp_on_negative_values)."""
    scale, _ = per_tensor(op, op.inputs[0])
    real = min(beta * scale * 2.0**26, 2.0**31 - 1.0)
    if real <= 1.0:  # QuantizeMultiplierGreaterThanOne's check aborts TFLM
        raise unsupported(op, f"beta * input scale = {beta * scale:g} is too small for TFLM's int8 kernel")
    mult, left_shift = quantize_multiplier(real)
    diff_min = -input_radius(5, left_shift)
    return np.array([fp.exp_on_negative_values(fp.srdhm(-d << left_shift, mult), 5) if -d >= diff_min
                     else 0 for d in range(256)], np.int32)


@lowering("SOFTMAX", schedules=isa_schedules)
def lower_softmax(op: Op, ctx: LoweringContext) -> str:
    x, y = op.inputs[0], op.outputs[0]
    s16_out = x.dtype == "int8" and y.dtype == "int16"  # TFLM's Softmax<int8_t, int16_t>
    dtype = "int8" if s16_out else require_dtype(op, ("int8", "int16", "float32"))
    beta = f32(op.attrs.get("beta", 0.0))  # TFLM leaves it 0 without options
    if op.attrs.get("axis", -1) not in (-1, len(x.shape) - 1) or not x.shape:
        raise unsupported(op, "only softmax over the last axis is supported")
    depth = x.shape[-1]
    dims = {"rows": x.size // depth, "depth": depth}
    if dtype == "float32":
        p = ctx.struct("mc_softmax_f32_t", "softmax", {**dims, "beta": c_float(beta)})
        return f"mc_softmax_f32({p}, {ctx.ptr(x)}, {ctx.ptr(y)});"
    if dtype == "int16":
        return softmax_s16(op, ctx, dims, beta)
    out_s, out_zp = per_tensor(op, y)
    want_s, want_zp = (1.0 / 65536, -32768) if s16_out else (1.0 / 256, -128)
    # TFLM checks both in Prepare (the int16 scale within 0.1 %)
    if abs(out_s - want_s) > (0.001 * want_s if s16_out else 0.0) or out_zp != want_zp:
        raise unsupported(op, f"{y.dtype} output must have scale 1/{round(1 / want_s)} and zero point "
                              f"{want_zp} (got {out_s:g}, {out_zp})")
    if depth >= 8192:  # the kernel's uint32 sum of up to 2^19 per element
        raise unsupported(op, f"int8 softmax over {depth} elements (at most 8191)")
    table = ctx.const(softmax_exp_table(op, beta), "exp", "int32_t")
    p = ctx.struct("mc_softmax_s8_t", "softmax", {**dims, "exp_table": table})
    return f"mc_softmax_s8{'_s16' if s16_out else ''}({p}, {ctx.ptr(x)}, {ctx.ptr(y)});"


# ---- SOFTMAX int16 (TFLM's SoftmaxInt16): two interpolated 513-entry tables built as TFLM's Prepare
# builds them (LUTPopulate<int16_t>, float32), the same for every model ----

def _roundf(x: np.float32) -> np.float32:
    """TfLiteRound of a float: halves away from zero, in float32."""
    t = np.trunc(x)
    return np.float32(t + np.sign(x) if abs(x - t) >= 0.5 else t)


def lut_int16(in_scale, in_zp: int, out_scale, out_zp: int, fn) -> np.ndarray:
    """TFLite's LUTPopulateInt16 in float32: 512 samples of fn over the input range, each biased by half
    the error of linear interpolation at the midpoint, and the last value."""
    f = np.float32
    in_min, in_max = f(in_scale) * f(-32768 - in_zp), f(in_scale) * f(32767 - in_zp)
    out_min, out_max = f(out_scale) * f(-32768 - out_zp), f(out_scale) * f(32767 - out_zp)
    step = f(f(in_max - in_min) / f(512))
    inv = f(f(65536) / f(out_max - out_min))
    table = []
    for i in range(512):
        x = f(in_min + f(f(i) * step))
        val, mid, nxt = fn(x), fn(f(x + f(step / f(2)))), fn(f(in_min + f(f(i + 1) * step)))
        interp = _roundf(f(f(nxt * inv) + _roundf(f(val * inv))) / f(2))
        bias = _roundf(f(interp - _roundf(f(mid * inv))) / f(2))
        table.append(min(max(f(_roundf(f(val * inv)) - bias), f(-32768)), f(32767)))
    table.append(min(max(_roundf(f(fn(in_max) * inv)), f(-32768)), f(32767)))
    return np.array(table, np.int16)


@functools.lru_cache(maxsize=1)
def softmax_s16_tables() -> tuple[np.ndarray, np.ndarray]:
    """exp on [-10, 0] and 1 / (1 + x) on [0, 1], both output scale 2/65535. TFLM calls the C
    library's expf (std::exp of a float); so does this, for the same float32 values."""
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    libm.expf.restype, libm.expf.argtypes = ctypes.c_float, [ctypes.c_float]
    span, f = np.float32(65535), np.float32
    exp = lut_int16(f(10.0) / span, 32767, f(2.0) / span, 0, lambda v: f(libm.expf(float(v))))
    recip = lut_int16(f(1.0) / span, -32768, f(2.0) / span, 0, lambda v: f(f(1.0) / f(f(1.0) + v)))
    return exp, recip


def softmax_s16(op: Op, ctx: LoweringContext, dims: dict, beta: float) -> str:
    (in_s, in_zp), (out_s, out_zp) = per_tensor(op, op.inputs[0]), per_tensor(op, op.outputs[0])
    if in_zp or out_zp or abs(out_s - 1.0 / 32768) > 0.001 / 32768:  # TFLM's checks
        raise unsupported(op, f"int16 input and output need zero point 0 and the output scale 1/32768 "
                              f"(got {out_s:g}, {out_zp})")
    if dims["depth"] > 65536:  # the sum of up to 32767 per element stays below 2^31
        raise unsupported(op, f"int16 softmax over {dims['depth']} elements (at most 65536)")
    mult, shift = quantize_multiplier(in_s * beta / (10.0 / 65535.0))  # in double, as TFLM
    exp, recip = softmax_s16_tables()
    p = ctx.struct("mc_softmax_s16_t", "softmax", {
        **dims, "multiplier": mult, "shift": shift, "exp_lut": ctx.const(exp, "exp", "int16_t"),
        "recip_lut": ctx.const(recip, "recip", "int16_t")})
    return f"mc_softmax_s16({p}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"
