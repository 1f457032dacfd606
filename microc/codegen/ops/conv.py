"""Lowerings of the convolution-like kernels (runtime_c/include/mc_conv.h)."""
from __future__ import annotations

import numpy as np

from microc.codegen.lowering import LoweringContext, best_isa, lowering, unsupported
from microc.codegen.ops import conv16, mve
from microc.codegen.ops.common import (act_fields, folded_bias, refuse_hybrid, require_dtype, requant_arrays,
                                       requant_table)
from microc.codegen.quant import per_channel_multipliers
from microc.codegen.schedule import ConvSchedule, DepthwiseSchedule, FcSchedule, Schedule
from microc.ir import Op


FC_W16_MAX_IN = 1024  # MC_FC_W16_MAX_IN: the widened inputs live on the stack (2 bytes each)


def _fc_schedules(op: Op, isas: tuple[str, ...]) -> list[Schedule]:
    """int8: the model's int8 weights or int16 ones (the default on DSP targets up to W16_MAX_BYTES
    of weights, as for CONV_2D: flash for speed, bounded; and for 4 rows or more: fewer rows do not
    pay for widening the inputs); the Helium kernel first where there is one."""
    isa, x, w = best_isa(isas), op.inputs[0], op.inputs[1]
    if x.dtype == "int16":
        return conv16.fc_schedules(op, isas)
    if x.dtype != "int8":
        return [FcSchedule(isa)]
    fast = [FcSchedule(isa, "int8")]
    if len(w.shape) == 2 and w.shape[1] <= FC_W16_MAX_IN:
        w16_first = isa == "dsp" and w.nbytes <= W16_MAX_BYTES and w.shape[0] >= 4
        fast.insert(int(not w16_first), FcSchedule(isa, "int16"))
    return mve.offered(isas, True, [FcSchedule("mve")], fast)


@lowering("FULLY_CONNECTED", schedules=_fc_schedules)
def lower_fully_connected(op: Op, ctx: LoweringContext) -> str:
    dtype = require_dtype(op, ("int8", "int16", "float32"))
    if dtype == "int16":
        return conv16.lower_fully_connected_s16(op, ctx)
    x, w = op.inputs[0], op.inputs[1]
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    out = op.outputs[0]
    if not w.is_const or op.attrs.get("weights_format", 0) != 0:
        raise unsupported(op, "weights must be a constant in the default format")
    refuse_hybrid(op, x, w)
    out_f, in_f = w.shape
    dims = {"batches": x.size // in_f, "in_features": in_f, "out_features": out_f}
    if dtype == "float32":
        p = ctx.struct("mc_fc_f32_t", "fc", {**dims, "weights": ctx.ptr(w),
                       "bias": ctx.ptr(bias) if bias is not None else "NULL", **act_fields(op, out)})
        return f"mc_fully_connected_f32({p}, {ctx.ptr(x)}, {ctx.ptr(out)});"
    bias_arr = folded_bias(op, w, bias, x.quant.zp, out_f, w.data.astype("int64").sum(axis=1))
    if mve.on_mve(ctx):
        gemm = mve.gemm_init(ctx, w.data, 1, in_f, bias_arr, *per_channel_multipliers(x, w, out),
                             out.quant.zp, act_fields(op, out))
        p = ctx.struct("mc_fc_mve_t", "fc", {"batches": dims["batches"], "in_features": in_f, "gemm": gemm})
        return f"mc_fully_connected_s8_mve({p}, {ctx.ptr(x)}, {ctx.ptr(out)});"
    if wide := ctx.schedule is not None and ctx.schedule.weights == "int16":
        padded = np.zeros((out_f, -(-in_f // 4) * 4), np.int8)
        padded[:, :in_f] = w.data
        name = ctx.const(sign_extended_pairs(padded, 4), "w16", "int32_t", flash=True)
        weights = f"(const MC_FLASH int8_t *){name}"
    else:
        weights = ctx.const(row_blocks(w.data, 4), "w", "int8_t", flash=True)
    p = ctx.struct("mc_fc_s8_t", "fc", {
        **dims, "weights": weights, "bias": ctx.const(bias_arr, "bias", "int32_t", flash=True),
        "requant": ctx.const(requant_table(x, w, out), "rq", "int32_t", flash=True),
        "out_zp": out.quant.zp, **act_fields(op, out)})
    kernel = "mc_fully_connected_w16_s8" if wide else "mc_fully_connected_s8"
    return f"{kernel}({p}, {ctx.ptr(x)}, {ctx.ptr(out)});"


def row_blocks(w: np.ndarray, block: int) -> np.ndarray:
    """[out, in] weights in the layout of FULLY_CONNECTED (block 4) and the 1x1 CONV_2D kernel (block
    2), mc_conv.h: blocks of `block` rows, each block's first in // 4 * 4 columns as
    [in // 4][rows][4] (one word per row per 4 inputs), then [rows][in % 4]."""
    body = w.shape[1] // 4 * 4
    parts = []
    for o in range(0, w.shape[0], block):
        rows = w[o:o + block]
        parts.append(rows[:, :body].reshape(len(rows), -1, 4).transpose(1, 0, 2).reshape(-1))
        parts.append(rows[:, body:].reshape(-1))
    return np.concatenate(parts)


# ---- CONV_2D and DEPTHWISE_CONV_2D (inputs read in place; scratch only for short-row CONV_2D) ----

def _interior(out_n: int, in_n: int, k: int, stride: int, dil: int, pad: int) -> tuple[int, int]:
    """Output positions [begin, end) whose taps o*stride - pad + i*dil (i < k) all lie in [0, in_n)."""
    begin = -(-pad // stride)
    end = (in_n - 1 - (k - 1) * dil + pad) // stride + 1
    begin, end = min(max(begin, 0), out_n), min(max(end, 0), out_n)
    return (begin, end) if begin < end else (0, 0)


def _geometry(op: Op, k_h: int, k_w: int) -> str:
    """The C initializer of the kernel's mc_conv_geom_t."""
    x, out = op.inputs[0], op.outputs[0]  # ranks, strides, dilations: checked by validate.py
    batches, in_h, in_w, in_c = x.shape
    _, out_h, out_w, out_c = out.shape
    s_h, s_w = op.attrs.get("stride", (1, 1))
    d_h, d_w = op.attrs.get("dilation", (1, 1))
    pad_top, pad_left = op.attrs.get("pads", (0, 0, 0, 0))[:2]
    oy = _interior(out_h, in_h, k_h, s_h, d_h, pad_top)
    ox = _interior(out_w, in_w, k_w, s_w, d_w, pad_left)
    fields = {"batches": batches, "in_h": in_h, "in_w": in_w, "in_c": in_c, "out_h": out_h,
              "out_w": out_w, "out_c": out_c, "k_h": k_h, "k_w": k_w, "stride_h": s_h,
              "stride_w": s_w, "dil_h": d_h, "dil_w": d_w, "pad_top": pad_top, "pad_left": pad_left,
              "oy_begin": oy[0], "oy_end": oy[1], "ox_begin": ox[0], "ox_end": ox[1]}
    return "{" + ", ".join(f".{k} = {v}" for k, v in fields.items()) + "}"


def _conv_inputs(op: Op) -> tuple:
    x, w = op.inputs[0], op.inputs[1]
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    if not w.is_const or (bias is not None and not bias.is_const):
        raise unsupported(op, "filter and bias must be constants")
    refuse_hybrid(op, x, w)
    return x, w, bias, op.outputs[0]


def _float_bias(ctx: LoweringContext, bias, channels: int) -> str:
    values = np.zeros(channels, np.float32) if bias is None else bias.data.astype(np.float32)
    return ctx.const(values, "bias", "float")


def _check_int8(op: Op, x, bias, out) -> None:
    if bias is not None and bias.dtype != "int32":
        raise unsupported(op, f"int8 {op.type} needs an int32 bias, not {bias.dtype}")
    if x.quant is None or x.quant.per_channel or out.quant is None or out.quant.per_channel:
        raise unsupported(op, "int8 input and output must be quantized per tensor")


def _int8_fields(op: Op, ctx: LoweringContext, x, w, bias, out, weight_sums,
                 table: bool = False) -> dict:
    """Biases (folded and as given), per-channel requantization arrays (multiplier and shift, or with
    `table` the folded table of mc_requantize_row_s8), zero points, clamp range."""
    _check_int8(op, x, bias, out)
    out_c = out.shape[-1]
    folded = folded_bias(op, w, bias, x.quant.zp, out_c, weight_sums)
    raw = folded_bias(op, w, bias, 0, out_c, weight_sums)
    if table:
        requant = {"requant": ctx.const(requant_table(x, w, out), "rq", "int32_t", flash=True)}
    else:
        mult, shift = requant_arrays(ctx, x, w, out, flash=True)
        requant = {"multiplier": mult, "shift": shift}
    return {"bias": ctx.const(folded, "bias", "int32_t", flash=True),
            "bias_raw": ctx.const(raw, "bias_raw", "int32_t", flash=True), **requant,
            "in_zp": x.quant.zp, "out_zp": out.quant.zp, **act_fields(op, out)}


SHORT_ROW = 16  # by default int8 filters with k_w * in_c below this gather patches (im2col) first


def _conv_schedules(op: Op, isas: tuple[str, ...]) -> list[ConvSchedule]:
    """Generic kernel reading in place or gathering patches (by default gathering when the filter
    rows are short), and for 1x1 filters without padding the 1x1 kernel (the default on DSP
    targets, where it pays: widened inputs, SMLAD)."""
    isa, w = best_isa(isas), op.inputs[1]
    if op.inputs[0].dtype == "int16" and len(w.shape) == 4:
        return conv16.conv_schedules(op, isas)
    if op.inputs[0].dtype != "int8" or len(w.shape) != 4:
        return [ConvSchedule(isa)]
    short = w.shape[2] * w.shape[3] < SHORT_ROW
    generic = [ConvSchedule(isa, "generic", short), ConvSchedule(isa, "generic", not short)]
    fits = len(op.inputs[0].shape) == 4 and w.shape[3] == op.inputs[0].shape[-1] \
        and int(np.prod(w.shape[1:])) <= mve.PATCH_MAX
    return mve.offered(isas, fits, _mve_conv_schedules(op) if fits else [], _dsp_conv_schedules(op, isa, generic))


def _mve_conv_schedules(op: Op) -> list[ConvSchedule]:
    """The Helium kernel (mc_mve.h), im2col: every patch gathered (by default where that pays);
    always where the filter is dilated in width."""
    rows, _, run = _image_layout(op)
    gather = mve.gather_pays(rows, run, op.inputs[1].shape[0])
    return [ConvSchedule("mve", "generic", gather)] + ([ConvSchedule("mve", "generic", not gather)] if run else [])


def _dsp_conv_schedules(op: Op, isa: str, generic: list[ConvSchedule]) -> list[ConvSchedule]:
    w = op.inputs[1]
    if not _is_1x1(op):
        if isa != "dsp" or _padded_len(op) > GEMM_MAX_K or w.shape[0] > CONV1X1_MAX_OUT_C:
            return generic
        gemm = ConvSchedule(isa, "gemm", False, "int16")
        return [gemm, *generic] if w.nbytes <= W16_MAX_BYTES else [*generic, gemm]
    fast = [ConvSchedule(isa, "1x1", False)]
    if isa == "dsp" and w.shape[3] % 4 == 0 and w.shape[0] <= CONV1X1_MAX_OUT_C:
        # sign-extended weights, by default up to W16_MAX_BYTES
        fast.insert(int(w.nbytes > W16_MAX_BYTES), ConvSchedule(isa, "1x1", False, "int16"))
    return [*fast, *generic] if isa == "dsp" else [*generic, *fast]


# The default int16 weights cost their size again in flash: taken for layers of at most 16 KB of
# weights (the early, large-image layers of MobileNets, where each weight serves many pixels).
W16_MAX_BYTES = 16384


def _is_1x1(op: Op) -> bool:
    w = op.inputs[1]
    return (tuple(w.shape[1:3]) == (1, 1) and not any(op.attrs.get("pads", (0, 0, 0, 0)))
            and w.shape[3] <= CONV1X1_MAX_IN_C)


CONV1X1_MAX_IN_C = CONV1X1_MAX_OUT_C = 256  # MC_CONV1X1_MAX_IN_C, MC_CONV1X1_MAX_OUT_C
GEMM_MAX_K = 640  # MC_CONV_GEMM_MAX_K


def conv_kernel(schedule: ConvSchedule | None) -> str:
    """The C kernel of an int8 CONV_2D under its schedule."""
    if schedule is not None and schedule.kernel == "gemm":
        return "mc_conv2d_gemm_w16_s8"
    if schedule is None or schedule.kernel != "1x1":
        return "mc_conv2d_s8"
    return "mc_conv2d_1x1_w16_s8" if schedule.weights == "int16" else "mc_conv2d_1x1_s8"


def _w16(ctx: LoweringContext, flat: np.ndarray) -> str:
    """The sign-extended weights as the struct's int8 pointer (the kernel reads them as words)."""
    return f"(const int8_t *){ctx.const(sign_extended_pairs(flat), 'w16', 'int32_t', flash=True)}"


def sign_extended_pairs(flat: np.ndarray, block: int = 2) -> np.ndarray:
    """[out, in] int8 weights (in % 4 == 0) as the int16-weight kernels take them (mc_conv.h): per
    block of `block` rows (2: mc_conv2d_1x1_w16_s8, 4: mc_fully_connected_w16_s8; the last block the
    remaining rows) [in / 4][rows][even, odd] int32 words of two int16 lanes, (w[4i], w[4i + 2]) and
    (w[4i + 1], w[4i + 3])."""
    x = flat.astype(np.int32).reshape(flat.shape[0], -1, 4)
    words = np.stack([(x[..., 0] & 0xFFFF) | (x[..., 2] << 16),
                      (x[..., 1] & 0xFFFF) | (x[..., 3] << 16)], axis=2)  # [out, in / 4, 2]
    return np.concatenate([words[o:o + block].transpose(1, 0, 2).reshape(-1)
                           for o in range(0, len(words), block)]).astype(np.int32)


def _padded_len(op: Op) -> int:
    """k_h*k_w*in_c rounded up to 4."""
    return -(-int(np.prod(op.inputs[1].shape[1:])) // 4) * 4


def _patch_len(op: Op, schedule: ConvSchedule | None) -> int:
    """Values per gathered patch of an int8 CONV_2D scheduled with im2col or the gemm kernel; 0 for
    the others."""
    if schedule is None or schedule.isa == "mve" or not (schedule.im2col or schedule.kernel == "gemm"):
        return 0  # MVE: patches on the stack
    return _padded_len(op)


def _conv_patch_bytes(op: Op, schedule: ConvSchedule | None) -> int:
    """Scratch for two patches (im2col); the gemm kernel keeps its patches on the stack."""
    return 2 * _patch_len(op, schedule) if schedule is not None and schedule.im2col else 0


@lowering("CONV_2D", scratch_bytes=_conv_patch_bytes, schedules=_conv_schedules)
def lower_conv2d(op: Op, ctx: LoweringContext) -> str:
    dtype = require_dtype(op, ("int8", "int16", "float32"))
    x, w, out = op.inputs[0], op.inputs[1], op.outputs[0]
    out_c, k_h, k_w, f_in = w.shape
    if f_in != x.shape[-1]:
        raise unsupported(op, f"grouped convolution (filter depth {f_in}, input depth "
                              f"{x.shape[-1]}) is not supported")
    geom = _geometry(op, k_h, k_w)
    if dtype == "int16":
        return conv16.lower_conv2d_s16(op, ctx, geom)
    x, w, bias, out = _conv_inputs(op)
    if dtype == "float32":
        p = ctx.struct("mc_conv2d_f32_t", "conv", {
            "g": geom, "weights": ctx.ptr(w), "bias": _float_bias(ctx, bias, out_c),
            **act_fields(op, out)})
        return f"mc_conv2d_f32({p}, {ctx.ptr(x)}, {ctx.ptr(out)});"
    flat = w.data.reshape(out_c, -1)
    if mve.on_mve(ctx):
        return _conv2d_mve(op, ctx, geom, flat)
    patch_len = _patch_len(op, ctx.schedule)
    if conv_kernel(ctx.schedule) == "mc_conv2d_1x1_s8":
        weights = ctx.const(row_blocks(flat, 2), "w", "int8_t", flash=True)
    elif conv_kernel(ctx.schedule) == "mc_conv2d_1x1_w16_s8":
        weights = _w16(ctx, flat)
    elif patch_len:  # zero weights meet the patch's padding
        padded = np.zeros((out_c, patch_len), np.int8)
        padded[:, :flat.shape[1]] = flat
        if ctx.schedule.kernel == "gemm":
            weights = _w16(ctx, padded)
        else:
            weights = ctx.const(padded, "w", "int8_t", flash=True)
    else:
        weights = ctx.const_tensor(w, flash=True)
    sums = flat.astype(np.int64).sum(axis=1)
    p = ctx.struct("mc_conv2d_s8_t", "conv", {
        "g": geom, "patch_len": patch_len, "weights": weights,
        **_int8_fields(op, ctx, x, w, bias, out, sums, "w16" in conv_kernel(ctx.schedule))})
    scratch = ctx.scratch() if _conv_patch_bytes(op, ctx.schedule) else "NULL"
    return f"{conv_kernel(ctx.schedule)}({p}, {ctx.ptr(x)}, {ctx.ptr(out)}, {scratch});"


def _image_layout(op: Op) -> tuple[int, int, int]:
    """(rows, row_step, run): where an interior pixel's taps lie in the image (mc_mve_layout_t), one
    run per filter row, rows merged when back to back; run 0 when dilated in width (no runs)."""
    _, in_h, in_w, in_c = op.inputs[0].shape
    _, k_h, k_w, _ = op.inputs[1].shape
    d_h, d_w = op.attrs.get("dilation", (1, 1))
    rows, row_step, run = k_h, d_h * in_w * in_c, k_w * in_c
    if d_w != 1 and k_w > 1:
        return rows, row_step, 0
    return (1, 0, rows * run) if row_step == run else (rows, row_step, run)


def _conv2d_mve(op: Op, ctx: LoweringContext, geom: str, flat: np.ndarray) -> str:
    """The Helium CONV_2D (mc_mve.h): in place, or every patch gathered (schedule.im2col)."""
    x, w, bias, out = _conv_inputs(op)
    _check_int8(op, x, bias, out)
    rows, row_step, run = _image_layout(op)
    if gathered := ctx.schedule.im2col:
        rows, row_step, run = 1, 0, flat.shape[1]
    folded = folded_bias(op, w, bias, x.quant.zp, flat.shape[0], flat.astype(np.int64).sum(axis=1))
    gemm = mve.gemm_init(ctx, flat, rows, run, folded, *per_channel_multipliers(x, w, out),
                         out.quant.zp, act_fields(op, out))
    p = ctx.struct("mc_conv2d_mve_t", "conv", {
        "g": geom, "gathered": int(gathered), "image": mve.layout(rows, row_step, run),
        "patch": mve.layout(rows, run, run), "in_zp": x.quant.zp, "gemm": gemm})
    return f"mc_conv2d_s8_mve({p}, {ctx.ptr(x)}, {ctx.ptr(out)});"


def _dw_schedules(op: Op, isas: tuple[str, ...]) -> list[DepthwiseSchedule]:
    """The Helium kernel (mc_mve.h) where the depth multiplier is 1 and a border patch fits."""
    x, w = op.inputs[0], op.inputs[1]
    fits = x.dtype == "int8" and len(x.shape) == 4 and len(w.shape) == 4 and w.shape[-1] == x.shape[-1] \
        and int(np.prod(w.shape[1:])) <= mve.PATCH_MAX
    return mve.offered(isas, fits, [DepthwiseSchedule("mve")], [DepthwiseSchedule(best_isa(isas))])


@lowering("DEPTHWISE_CONV_2D", schedules=_dw_schedules)
def lower_depthwise_conv2d(op: Op, ctx: LoweringContext) -> str:
    dtype = require_dtype(op, ("int8", "int16", "float32"))
    x, w = op.inputs[0], op.inputs[1]
    _, k_h, k_w, out_c = w.shape  # 1HW(I*M), I*M a multiple of I: checked by validate.py
    common = {"g": _geometry(op, k_h, k_w), "depth_mult": out_c // x.shape[-1]}
    if dtype == "int16":
        return conv16.lower_depthwise_s16(op, ctx, common)
    x, w, bias, out = _conv_inputs(op)
    if dtype == "float32":
        p = ctx.struct("mc_dwconv_f32_t", "dwconv", {
            **common, "weights": ctx.ptr(w), "bias": _float_bias(ctx, bias, out_c), **act_fields(op, out)})
        return f"mc_depthwise_conv2d_f32({p}, {ctx.ptr(x)}, {ctx.ptr(out)});"
    sums = w.data.astype(np.int64).reshape(-1, out_c).sum(axis=0)
    if mve.on_mve(ctx):
        return _depthwise_mve(op, ctx, common["g"], sums)
    p = ctx.struct("mc_dwconv_s8_t", "dwconv", {
        **common, "weights": ctx.const_tensor(w, flash=True),
        **_int8_fields(op, ctx, x, w, bias, out, sums, table=True)})
    return f"mc_depthwise_conv2d_s8({p}, {ctx.ptr(x)}, {ctx.ptr(out)});"


def _depthwise_mve(op: Op, ctx: LoweringContext, geom: str, sums: np.ndarray) -> str:
    """The Helium DEPTHWISE_CONV_2D (mc_mve.h), depth multiplier 1."""
    x, w, bias, out = _conv_inputs(op)
    _check_int8(op, x, bias, out)
    folded = folded_bias(op, w, bias, x.quant.zp, out.shape[-1], sums)
    p = ctx.struct("mc_dwconv_mve_t", "dwconv", {
        "g": geom, **mve.depthwise_init(ctx, w.data, folded, *per_channel_multipliers(x, w, out)),
        "in_zp": x.quant.zp, "out_zp": out.quant.zp, **act_fields(op, out)})
    return f"mc_depthwise_conv2d_s8_mve({p}, {ctx.ptr(x)}, {ctx.ptr(out)});"
