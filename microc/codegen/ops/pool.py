"""Lowerings of the pool kernels (runtime_c/include/mc_pool.h): AVERAGE_POOL_2D, MAX_POOL_2D, and the
reductions MEAN, SUM, REDUCE_MAX, REDUCE_MIN."""
from __future__ import annotations

import numpy as np

from microc.codegen.lowering import LoweringContext, isa_schedules, lowering, unsupported
from microc.codegen.ops import mve
from microc.codegen.ops.common import act_fields, c_init, c_list, merge_dims, require_dtype
from microc.codegen.quant import quantize_multiplier
from microc.codegen.schedule import Schedule
from microc.ir import Op


AVG_S16_MAX_TAPS = 65536  # 65,536 int16 values sum within int32 (AVERAGE_POOL_2D, MEAN, SUM)


def _same_quant(op: Op) -> None:
    """Pools compare and average raw values: TFLM requires input and output quantized alike."""
    x, y = op.inputs[0], op.outputs[0]
    if x.quant is None or y.quant is None or x.quant.per_channel or y.quant.per_channel:
        raise unsupported(op, "integer tensors must be per-tensor quantized")
    if np.float32(x.quant.s) != np.float32(y.quant.s) or x.quant.zp != y.quant.zp:
        raise unsupported(op, "input and output must share scale and zero point")


def _pool_geometry(op: Op) -> str:
    x, y = op.inputs[0], op.outputs[0]  # ranks, filter and strides: checked by validate.py
    (fh, fw), (sh, sw) = op.attrs["filter"], op.attrs.get("stride", (1, 1))
    top, left = op.attrs.get("pads", (0, 0, 0, 0))[:2]
    n, in_h, in_w, c = x.shape
    if top >= fh or left >= fw or (y.shape[1] - 1) * sh - top >= in_h or \
            (y.shape[2] - 1) * sw - left >= in_w:
        raise unsupported(op, f"output {y.shape} has windows entirely outside input {x.shape}")
    return c_init(dict(batches=n, in_h=in_h, in_w=in_w, channels=c, out_h=y.shape[1],
                       out_w=y.shape[2], filter_h=fh, filter_w=fw, stride_h=sh, stride_w=sw,
                       pad_top=top, pad_left=left))


def _avg_scratch(op: Op, schedule=None) -> int:
    x = op.inputs[0]
    return 4 * x.shape[-1] if x.dtype in ("int8", "int16") and x.shape else 0  # int32 sums, one per channel


def _lower_pool(op: Op, ctx: LoweringContext, kind: str) -> str:
    dtype = require_dtype(op, ("int8", "int16", "float32"))
    if op.attrs.get("activation", "NONE") not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        raise unsupported(op, f"fused activation {op.attrs['activation']} is not supported")
    if dtype == "int16" and kind == "avg_pool" and np.prod(op.attrs["filter"]) > AVG_S16_MAX_TAPS:
        raise unsupported(op, f"int16 window of {np.prod(op.attrs['filter'])} taps (at most {AVG_S16_MAX_TAPS}: "
                              "the int32 sum of more int16 values can overflow)")
    x, y = op.inputs[0], op.outputs[0]
    fields = {"g": _pool_geometry(op), **act_fields(op, y)}
    if dtype == "float32":
        p = ctx.struct("mc_pool_f32_t", kind, fields)
        return f"mc_{kind}_f32({p}, {ctx.ptr(x)}, {ctx.ptr(y)});"
    _same_quant(op)
    p = ctx.struct("mc_pool_s8_t", kind, fields)
    scratch = f", (int32_t *){ctx.scratch()}" if kind == "avg_pool" else ""
    if dtype == "int16":
        return f"mc_{kind}_s16({p}, {ctx.ptr(x)}, {ctx.ptr(y)}{scratch});"
    helium = "_mve" if mve.on_mve(ctx) else ""  # AVERAGE_POOL_2D's Helium sums (mc_pool.h)
    return f"mc_{kind}_s8{helium}({p}, {ctx.ptr(x)}, {ctx.ptr(y)}{scratch});"


def _avg_schedules(op: Op, isas: tuple[str, ...]) -> list[Schedule]:
    return mve.offered(isas, op.inputs[0].dtype == "int8", [Schedule("mve")], isa_schedules(op, isas))


@lowering("AVERAGE_POOL_2D", scratch_bytes=_avg_scratch, schedules=_avg_schedules)
def lower_average_pool(op: Op, ctx: LoweringContext) -> str:
    return _lower_pool(op, ctx, "avg_pool")


@lowering("MAX_POOL_2D", schedules=isa_schedules)
def lower_max_pool(op: Op, ctx: LoweringContext) -> str:
    return _lower_pool(op, ctx, "max_pool")


# ---- MEAN ----

MEAN_MAX_DIMS = 6  # MC_MEAN_MAX_DIMS (the installed TFLM reduces 6-D inputs too)


def _mean_axes(op: Op) -> list[int]:
    x, axis = op.inputs[0], op.inputs[1]
    if axis is None or not axis.is_const or axis.dtype != "int32":
        raise unsupported(op, "the axis list must be a constant int32 tensor")
    rank = len(x.shape)
    axes = []
    for a in axis.data.reshape(-1).tolist():
        if not -rank <= a < rank:
            raise unsupported(op, f"axis {a} is out of range for a rank-{rank} input")
        if a % rank not in axes:
            axes.append(a % rank)
    return sorted(axes)


def mean_geometry(shape: tuple[int, ...], axes: list[int]) -> dict:
    strides = [int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape))]
    kept = [i for i in range(len(shape)) if i not in axes]
    kept_dims, (kept_strides,) = merge_dims([shape[i] for i in kept], [strides[i] for i in kept])
    red_dims, (red_strides,) = merge_dims([shape[i] for i in axes], [strides[i] for i in axes])
    count = int(np.prod([shape[i] for i in axes], dtype=np.int64))
    return dict(n_kept=len(kept_dims), n_red=len(red_dims), kept_dims=kept_dims,
                kept_strides=kept_strides, red_dims=red_dims, red_strides=red_strides, count=count)


def mean_multiplier(in_scale: float, out_scale: float, count: int) -> tuple[int, int]:
    """TFLM's QuantizedMeanOrSum: QuantizeMultiplier(in/out), then 1/count folded into it with
    shift = floor(log2(count)) clamped to 32 and to 31 + shift."""
    mult, shift = quantize_multiplier(float(np.float32(in_scale)) / float(np.float32(out_scale)))
    extra = min(count.bit_length() - 1, 32, 31 + shift)  # >= 0: QuantizeMultiplier's shift >= -31
    return (mult << extra) // count, shift - extra


def _reduction(op: Op, dtypes: tuple[str, ...] = ("int8", "float32")) -> tuple[str, dict]:
    """The dtype and geometry of a reduction over constant axes (MEAN, SUM, REDUCE_MAX, REDUCE_MIN)."""
    dtype = require_dtype(op, dtypes)
    x, y = op.inputs[0], op.outputs[0]
    if len(x.shape) > MEAN_MAX_DIMS:
        raise unsupported(op, f"rank {len(x.shape)} input (at most {MEAN_MAX_DIMS})")
    axes = _mean_axes(op)
    g = mean_geometry(x.shape, axes)
    if g["count"] == 0 or y.size != x.size // g["count"]:
        raise unsupported(op, f"output shape {y.shape} does not match input {x.shape} over axes {axes}")
    return dtype, g


@lowering("MEAN")
@lowering("SUM")
def lower_mean(op: Op, ctx: LoweringContext) -> str:
    dtype, g = _reduction(op, ("int8", "int16", "float32"))  # TFLM's REDUCE_MAX/MIN have no int16 path
    x, y = op.inputs[0], op.outputs[0]
    name = op.type.lower()
    if dtype == "float32":
        p = ctx.struct("mc_mean_geom_t", name, c_list(g))
        return f"mc_{name}_f32({p}, {ctx.ptr(x)}, {ctx.ptr(y)});"
    geom = c_init(g)
    # The installed TFLM requantizes every int8 MEAN (even with equal quantization), rounding; its
    # older truncating same-quantization path is gone, so there is one int8 kernel. SUM is the same
    # (QuantizedMeanOrSum) without the division by count.
    if op.type == "SUM":
        mult, shift = quantize_multiplier(float(np.float32(x.quant.s)) / float(np.float32(y.quant.s)))
    else:
        mult, shift = mean_multiplier(x.quant.s, y.quant.s, g["count"])
    if dtype == "int16" and g["count"] > AVG_S16_MAX_TAPS:
        raise unsupported(op, f"int16 {op.type} over {g['count']} elements (at most {AVG_S16_MAX_TAPS}: "
                              "TFLM's int32 sum of more int16 values can overflow)")
    p = ctx.struct("mc_mean_s8_t", name, {"g": geom, "in_zp_times_count": x.quant.zp * g["count"],
                                          "multiplier": mult, "shift": shift, "out_zp": y.quant.zp})
    return f"mc_mean_{'s16' if dtype == 'int16' else 's8'}({p}, {ctx.ptr(x)}, {ctx.ptr(y)});"


@lowering("REDUCE_MAX")
@lowering("REDUCE_MIN")
def lower_reduce_max_min(op: Op, ctx: LoweringContext) -> str:
    dtype, g = _reduction(op)
    if dtype == "int8":
        _same_quant(op)
    p = ctx.struct("mc_mean_geom_t", "reduce", c_list(g))
    fn = f"mc_{op.type.lower()}_{'s8' if dtype == 'int8' else 'f32'}"
    return f"{fn}({p}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"
