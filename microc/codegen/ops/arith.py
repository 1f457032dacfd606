"""Lowerings of the binary element-wise kernels beyond ADD/SUB/MUL (runtime_c/include/mc_elementwise.h):
MAXIMUM, MINIMUM (int8, int16, int32, float32), DIV (float32, int32), SQUARED_DIFFERENCE (int8, int16, float32). Broadcasting as
ADD's."""
from __future__ import annotations

import numpy as np

from microc.codegen.fixedpoint import multiply_by_quantized_multiplier
from microc.codegen.lowering import LoweringContext, lowering, unsupported
from microc.codegen.ops.common import act_fields, c_init, c_list
from microc.codegen.ops.elementwise import _check_operands, _smaller_than_one, broadcast_shape, int32_act_fields
from microc.codegen.quant import quantize_multiplier
from microc.ir import Op

SQDIFF_LEFT_SHIFT = 7  # TFLM's int8 SQUARED_DIFFERENCE headroom


def _args(op: Op, ctx: LoweringContext) -> str:
    return f"{ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, {ctx.ptr(op.outputs[0])}"


@lowering("MAXIMUM")
@lowering("MINIMUM")
def lower_min_max(op: Op, ctx: LoweringContext) -> str:
    dtype = _check_operands(op, ("int8", "int16", "float32", "int32"))
    shape = ctx.struct("mc_bcast_t", "bcast", broadcast_shape_fields(op))
    suffix = {"int8": "s8", "int16": "s16", "int32": "s32", "float32": "f32"}[dtype]
    return f"mc_{op.type.lower()}_{suffix}({shape}, {_args(op, ctx)});"


def broadcast_shape_fields(op: Op) -> dict:
    return c_list(broadcast_shape(op))


@lowering("DIV")
def lower_div(op: Op, ctx: LoweringContext) -> str:
    dtype = _check_operands(op, ("int8", "float32", "int32"))
    if dtype == "int8":
        raise unsupported(op, "int8 DIV is not supported (float32 and int32 only)")
    if dtype == "int32":
        p = ctx.struct("mc_binary_s32_t", "div", {"shape": c_init(broadcast_shape(op)), **int32_act_fields(op)})
        return f"mc_div_s32({p}, {_args(op, ctx)});"
    p = ctx.struct("mc_binary_f32_t", "div", {"shape": c_init(broadcast_shape(op)),
                                              **act_fields(op, op.outputs[0])})
    return f"mc_div_f32({p}, {_args(op, ctx)});"


@lowering("SQUARED_DIFFERENCE")
def lower_squared_difference(op: Op, ctx: LoweringContext) -> str:
    dtype = _check_operands(op, ("int8", "int16", "float32"))
    if dtype == "float32":
        shape = ctx.struct("mc_bcast_t", "bcast", broadcast_shape_fields(op))
        return f"mc_squared_difference_f32({shape}, {_args(op, ctx)});"
    a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
    # TFLM's Prepare, in double from the float scales
    s1, s2, so = (float(np.float32(t.quant.s)) for t in (a, b, y))
    twice = 2.0 * max(s1, s2)
    if dtype == "int16":  # left shift 0: the inputs are rescaled per element, not tabulated
        if any(t.quant.zp != 0 for t in (a, b, y)):
            raise unsupported(op, "int16 tensors need zero point 0 (TFLM checks)")
        (ma, sa), (mb, sb) = (_smaller_than_one(op, s / twice, "input") for s in (s1, s2))
        mult, shift = quantize_multiplier(twice * twice / so)
        p = ctx.struct("mc_sqdiff_s16_t", "sqdiff", {"shape": c_init(broadcast_shape(op)), "a_multiplier": ma,
                                                      "a_shift": sa, "b_multiplier": mb, "b_shift": sb,
                                                      "multiplier": mult, "shift": shift})
        return f"mc_squared_difference_s16({p}, {_args(op, ctx)});"
    fields = {}
    for key, t, s in (("a_table", a, s1), ("b_table", b, s2)):
        m, sh = _smaller_than_one(op, s / twice, "input")
        table = [multiply_by_quantized_multiplier((q - t.quant.zp) * (1 << SQDIFF_LEFT_SHIFT), m, sh)
                 for q in range(-128, 128)]
        fields[key] = ctx.const(np.array(table, np.int32), key, "int32_t")
    mult, shift = quantize_multiplier(twice * twice / ((1 << (2 * SQDIFF_LEFT_SHIFT)) * so))
    p = ctx.struct("mc_sqdiff_s8_t", "sqdiff", {"shape": c_init(broadcast_shape(op)), **fields,
                                                 "multiplier": mult, "shift": shift, "out_offset": y.quant.zp})
    return f"mc_squared_difference_s8({p}, {_args(op, ctx)});"
