"""Lowerings of the convolution-like kernels (runtime_c/include/mc_conv.h)."""
from __future__ import annotations

from microc.codegen.lowering import LoweringContext, lowering, unsupported
from microc.codegen.ops.common import act_fields, folded_bias, require_dtype, requant_arrays
from microc.ir import Op


@lowering("FULLY_CONNECTED")
def lower_fully_connected(op: Op, ctx: LoweringContext) -> str:
    dtype = require_dtype(op)
    x, w = op.inputs[0], op.inputs[1]
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    out = op.outputs[0]
    if not w.is_const or op.attrs.get("weights_format", 0) != 0:
        raise unsupported(op, "weights must be a constant in the default format")
    out_f, in_f = w.shape
    dims = {"batches": x.size // in_f, "in_features": in_f, "out_features": out_f}
    if dtype == "float32":
        p = ctx.struct("mc_fc_f32_t", "fc", {**dims, "weights": ctx.ptr(w),
                       "bias": ctx.ptr(bias) if bias is not None else "NULL", **act_fields(op, out)})
        return f"mc_fully_connected_f32({p}, {ctx.ptr(x)}, {ctx.ptr(out)});"
    bias_arr = folded_bias(op, w, bias, x.quant.zp, out_f, w.data.astype("int64").sum(axis=1))
    mult, shift = requant_arrays(ctx, x, w, out)
    p = ctx.struct("mc_fc_s8_t", "fc", {
        **dims, "weights": ctx.ptr(w), "bias": ctx.const(bias_arr, "bias", "int32_t"),
        "multiplier": mult, "shift": shift, "out_zp": out.quant.zp, **act_fields(op, out)})
    return f"mc_fully_connected_s8({p}, {ctx.ptr(x)}, {ctx.ptr(out)});"
