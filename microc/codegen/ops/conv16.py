"""Lowerings of the 16x8 CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and of TRANSPOSE_CONV (runtime_c/include/mc_conv.h,
runtime_c/src/mc_conv_s16.c).

16x8: int16 activations (symmetric, zero point 0), int8 weights, int64 (or int32) bias, requantized per
output channel as TFLM's reference_integer_ops do; the multipliers are computed here. The schedules with
int16 weights (CONV_2D kernel "gemm", FULLY_CONNECTED and TRANSPOSE_CONV weights "int16"; the default on
DSP targets, where SMLAD pairs the int16 inputs with them) lay the weights out as mc_conv.h's matrix
products take them (runtime_c/src/mc_conv_s16_gemm.c)."""
from __future__ import annotations

import numpy as np

from microc.codegen.lowering import LoweringContext, best_isa, lowering, unsupported
from microc.codegen.ops.common import act_fields, c_init, folded_bias, refuse_hybrid
from microc.codegen.quant import per_channel_multipliers, reduced_multiplier
from microc.codegen.schedule import ConvSchedule, FcSchedule, Schedule, TconvSchedule
from microc.ir import Op, Tensor

TOTAL_SHIFT_MAX = 62  # mc_requantize64 shifts an int64 by 15 - shift
GEMM_MAX_K = 1024  # MC_S16_GEMM_MAX_K: the gathered inputs live on the stack (2 bytes each)


def _ceil4(n: int) -> int:
    return -(-n // 4) * 4


def _ceil8(n: int) -> int:
    return -(-n // 8) * 8


def s16_weight_words(flat: np.ndarray) -> np.ndarray:
    """[out, K] int8 weights as the 16x8 matrix products take them (mc_conv.h): K padded with zeros to
    a multiple of 4, out to one of 4 (zero channels); per block of 4 channels [K / 4][4][2] int32 words
    of two int16 lanes (w[k], w[k + 1])."""
    rows, k = _ceil4(flat.shape[0]), _ceil4(flat.shape[1])
    w = np.zeros((rows, k), np.int32)
    w[:flat.shape[0], :flat.shape[1]] = flat
    words = (w[:, 0::2] & 0xFFFF) | (w[:, 1::2] << 16)  # [rows, K / 2]
    return words.reshape(rows // 4, 4, k // 4, 2).transpose(0, 2, 1, 3).reshape(-1).astype(np.int32)


def s8_row_chunks(flat: np.ndarray) -> np.ndarray:
    """[out, K] int8 weights as the Helium 16x8 kernels take them (mc_conv.h): K padded with zeros to a
    multiple of 8, out to one of 4; per block of 4 channels [K / 8][4][8]."""
    rows, k = _ceil4(flat.shape[0]), _ceil8(flat.shape[1])
    w = np.zeros((rows, k), np.int8)
    w[:flat.shape[0], :flat.shape[1]] = flat
    return w.reshape(rows // 4, 4, k // 8, 8).transpose(0, 2, 1, 3).reshape(-1)


def _mve(schedule: Schedule | None) -> bool:
    return schedule is not None and schedule.isa == "mve"


def _wide(schedule: Schedule | None) -> bool:
    """The layer runs a matrix product over int16 weights (the DSP path's)."""
    return schedule is not None and getattr(schedule, "weights", "int8") == "int16"


def _gemm_len(schedule: Schedule | None, k: int) -> int:
    """Values per gathered input vector of K values (K padded as the kernel's lanes want), 0 for the
    plain loops."""
    return _ceil8(k) if _mve(schedule) else _ceil4(k) if _wide(schedule) else 0


def _weights(ctx: LoweringContext, flats: list[np.ndarray]) -> str | None:
    """The matrices (one per filter tap for TRANSPOSE_CONV) in the schedule's layout, or None: the
    model's weights as they are."""
    if _mve(ctx.schedule):
        return ctx.const(np.concatenate([s8_row_chunks(f) for f in flats]), "w", "int8_t")
    if _wide(ctx.schedule):
        words = np.concatenate([s16_weight_words(f) for f in flats])
        return f"(const int8_t *){ctx.const(words, 'w16', 'int32_t')}"
    return None


def _offered(isas: tuple[str, ...], make, k: int) -> list[Schedule]:
    """The plain loops (make(isa)) and the matrix products where a gathered input fits the stack: on
    Helium (make("mve", mve=True)) first where the board has it, then over int16 weights (make(isa,
    wide=True)), the default on DSP targets (SMLAD; the plain loops take 10 to 20 instructions per
    product there)."""
    isa = best_isa(isas)
    plain, wide = make(isa), make(isa, wide=True)
    if _ceil8(k) > GEMM_MAX_K:
        return [plain]
    others = [wide, plain] if isa == "dsp" else [plain, wide]
    return ([make("mve", mve=True)] if "mve" in isas else []) + others


def conv_schedules(op: Op, isas: tuple[str, ...]) -> list[Schedule]:
    def make(isa, wide=False, mve=False):
        return ConvSchedule(isa, "gemm", False, "int16") if wide else ConvSchedule(isa, "gemm" if mve else "generic")
    return _offered(isas, make, int(np.prod(op.inputs[1].shape[1:])))


def fc_schedules(op: Op, isas: tuple[str, ...]) -> list[Schedule]:
    w = op.inputs[1]
    if len(w.shape) != 2:
        return [FcSchedule(best_isa(isas))]
    return _offered(isas, lambda isa, wide=False, mve=False: FcSchedule(isa, "int16" if wide else "int8"), w.shape[1])


def _tconv_patch_len(op: Op, schedule: Schedule | None) -> int:
    """The most input pixels one output pixel gathers, times in_c padded as the kernel wants."""
    k_h, k_w = op.inputs[1].shape[1:3]
    s_h, s_w = op.attrs.get("stride", (1, 1))
    return -(-k_h // s_h) * -(-k_w // s_w) * _gemm_len(schedule, op.inputs[1].shape[3])


def _tconv_schedules(op: Op, isas: tuple[str, ...]) -> list[Schedule]:
    if op.inputs[2].dtype != "int16" or len(op.inputs[1].shape) != 4:
        return [TconvSchedule(best_isa(isas))]
    return _offered(isas, lambda isa, wide=False, mve=False: TconvSchedule(isa, "int16" if wide else "int8"),
                    _tconv_patch_len(op, TconvSchedule("mve")))


def check_int16(op: Op, x: Tensor, w: Tensor, out: Tensor) -> None:
    """16x8 tensors as TFLM's kernels take them: int8 weights, symmetric int16 activations."""
    if w.dtype != "int8" or out.dtype != "int16":
        raise unsupported(op, f"int16 input needs int8 weights and an int16 output, not {w.dtype} -> {out.dtype}")
    for t in (x, out):
        if t.quant is None or t.quant.per_channel or t.quant.zp != 0:
            raise unsupported(op, f"int16 tensor '{t.name}' must be quantized per tensor with zero point 0 "
                                  "(TFLM's 16x8 kernels add no zero points)")
    if w.quant is None or np.any(w.quant.zero_point != 0):
        raise unsupported(op, "int8 weights must be quantized with zero point 0")


def s16_requant(op: Op, ctx: LoweringContext, x: Tensor, w: Tensor, bias: Tensor | None, out: Tensor,
                wide: bool, weights: str | None = None) -> str:
    """The mc_s16_requant_t initializer: weights (the model's, or `weights`), int64 bias, per-channel
    multipliers and shifts (reduced to 16 bits when `wide`: TFLM's int64 MultiplyByQuantizedMultiplier)."""
    channels = out.shape[-1]
    mult, shift = per_channel_multipliers(x, w, out)
    if wide:
        pairs = [reduced_multiplier(int(m), int(s)) for m, s in zip(mult, shift)]
        if any(not 1 <= t <= TOTAL_SHIFT_MAX for _, t in pairs):
            raise unsupported(op, "a requantization scale (input x weight / output) is outside what "
                                  "TFLM's int64 requantization handles (shift in [-31, 7])")
        mult = np.array([p[0] for p in pairs], np.int32)
        shift = np.array([p[1] for p in pairs], np.int32)
    b = np.zeros(channels, np.int64) if bias is None else bias.data.astype(np.int64).reshape(-1)
    lo, hi = act_fields(op, out).values()
    return c_init({"weights": weights or ctx.const(w.data, "w", "int8_t"), "bias": ctx.const(b, "bias", "int64_t"),
                   "multiplier": ctx.const(mult, "mult", "int32_t"),
                   "shift": ctx.const(shift, "shift", "int32_t"),
                   "wide": int(wide), "act_min": lo, "act_max": hi})


def _requant_of(op: Op, ctx: LoweringContext, biases: tuple[str, ...] = ("int64", "int32")) -> str:
    """Inputs (input, weights, bias) of CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED checked, and their
    mc_s16_requant_t (the weights as int16 words when the schedule says so): TFLM accumulates in int64
    with an int64 bias (or none), in int32 with an int32 one."""
    x, w, out = op.inputs[0], op.inputs[1], op.outputs[0]
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    if not w.is_const or (bias is not None and not bias.is_const):
        raise unsupported(op, "weights and bias must be constants")
    check_int16(op, x, w, out)
    if bias is not None and bias.dtype not in biases:
        raise unsupported(op, f"int16 {op.type} needs an {' or '.join(biases)} bias, not {bias.dtype}")
    weights = _weights(ctx, [w.data.reshape(w.shape[0], -1)])
    return s16_requant(op, ctx, x, w, bias, out, bias is None or bias.dtype == "int64", weights)


def _kernel(ctx: LoweringContext, plain: str, wide: str, mve: str) -> str:
    return mve if _mve(ctx.schedule) else wide if _wide(ctx.schedule) else plain


def lower_conv2d_s16(op: Op, ctx: LoweringContext, geom: str) -> str:
    patch_len = _gemm_len(ctx.schedule, int(np.prod(op.inputs[1].shape[1:])))
    p = ctx.struct("mc_conv2d_s16_t", "conv", {"g": geom, "q": _requant_of(op, ctx), "patch_len": patch_len})
    kernel = _kernel(ctx, "mc_conv2d_s16", "mc_conv2d_gemm_s16", "mc_conv2d_gemm_s16_mve")
    return f"{kernel}({p}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"


def lower_depthwise_s16(op: Op, ctx: LoweringContext, common: dict) -> str:
    """TFLM's int16 DepthwiseConvPerChannel takes an int64 bias only."""
    p = ctx.struct("mc_dwconv_s16_t", "dwconv", {**common, "q": _requant_of(op, ctx, ("int64",))})
    return f"mc_depthwise_conv2d_s16({p}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"


def lower_fully_connected_s16(op: Op, ctx: LoweringContext) -> str:
    x, w = op.inputs[0], op.inputs[1]
    if op.attrs.get("weights_format", 0) != 0:
        raise unsupported(op, "weights must be in the default format")
    out_f, in_f = w.shape
    p = ctx.struct("mc_fc_s16_t", "fc", {"batches": x.size // in_f, "in_features": in_f,
                                         "out_features": out_f, "q": _requant_of(op, ctx)})
    kernel = _kernel(ctx, "mc_fully_connected_s16", "mc_fully_connected_w16_s16", "mc_fully_connected_s16_mve")
    return f"{kernel}({p}, {ctx.ptr(x)}, {ctx.ptr(op.outputs[0])});"


# ---- TRANSPOSE_CONV: inputs output_shape, weights [out_c, k_h, k_w, in_c], input, bias ----

def _tconv_geometry(op: Op) -> str:
    x, w, y = op.inputs[2], op.inputs[1], op.outputs[0]  # ranks and shapes: checked by validate.py
    batches, in_h, in_w, in_c = x.shape
    _, out_h, out_w, out_c = y.shape
    s_h, s_w = op.attrs.get("stride", (1, 1))
    pad_top, pad_left = op.attrs.get("pads", (0, 0, 0, 0))[:2]
    return c_init({"batches": batches, "in_h": in_h, "in_w": in_w, "in_c": in_c, "out_h": out_h,
                   "out_w": out_w, "out_c": out_c, "k_h": w.shape[1], "k_w": w.shape[2],
                   "stride_h": s_h, "stride_w": s_w, "pad_top": pad_top, "pad_left": pad_left})


@lowering("TRANSPOSE_CONV", schedules=_tconv_schedules)
def lower_transpose_conv(op: Op, ctx: LoweringContext) -> str:
    w, x, out = op.inputs[1], op.inputs[2], op.outputs[0]
    bias = op.inputs[3] if len(op.inputs) > 3 else None
    if not w.is_const or (bias is not None and not bias.is_const):
        raise unsupported(op, "filter and bias must be constants")
    if x.dtype != out.dtype or x.dtype not in ("int8", "int16", "float32"):
        raise unsupported(op, f"{x.dtype} -> {out.dtype} is not supported (supported: int8, int16, float32)")
    g = _tconv_geometry(op)
    args = f"{ctx.ptr(x)}, {ctx.ptr(out)}"
    if x.dtype == "float32":
        refuse_hybrid(op, x, w)
        b = ctx.const(bias.data.astype(np.float32), "bias", "float") if bias is not None else "NULL"
        p = ctx.struct("mc_tconv_f32_t", "tconv", {"g": g, "weights": ctx.ptr(w), "bias": b,
                                                   **act_fields(op, out)})
        return f"mc_transpose_conv_f32({p}, {args});"
    if x.dtype == "int16":
        check_int16(op, x, w, out)
        if bias is not None and bias.dtype not in ("int16", "int64"):
            raise unsupported(op, f"int16 TRANSPOSE_CONV needs an int64 (or int16) bias, not {bias.dtype}")
        taps = w.data.transpose(1, 2, 0, 3).reshape(-1, w.shape[0], w.shape[3])  # [tap][out_c][in_c]
        q = s16_requant(op, ctx, x, w, bias, out, True, _weights(ctx, list(taps)))
        p = ctx.struct("mc_tconv_s16_t", "tconv", {"g": g, "q": q, "patch_len": _tconv_patch_len(op, ctx.schedule)})
        kernel = _kernel(ctx, "mc_transpose_conv_s16", "mc_transpose_conv_w16_s16", "mc_transpose_conv_s16_mve")
        return f"{kernel}({p}, {args});"
    if w.dtype != "int8" or (bias is not None and bias.dtype != "int32"):
        raise unsupported(op, "int8 TRANSPOSE_CONV needs int8 weights and an int32 bias")
    for t in (x, out):
        if t.quant is None or t.quant.per_channel:
            raise unsupported(op, f"int8 tensor '{t.name}' must be quantized per tensor")
    raw = folded_bias(op, w, bias, 0, out.shape[-1], np.zeros(out.shape[-1], np.int64))
    mult, shift = per_channel_multipliers(x, w, out)
    p = ctx.struct("mc_tconv_s8_t", "tconv", {
        "g": g, "weights": ctx.const(w.data, "w", "int8_t"), "bias": ctx.const(raw, "bias", "int32_t"),
        "multiplier": ctx.const(mult, "mult", "int32_t"), "shift": ctx.const(shift, "shift", "int32_t"),
        "in_zp": x.quant.zp, "out_zp": out.quant.zp, **act_fields(op, out)})
    return f"mc_transpose_conv_s8({p}, {args});"
