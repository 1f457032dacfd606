"""In-place variants (microc/planner.py InPlace): which operators may write their output over an input,
and the calls that do it. Element-wise kernels read element i before they write element i, so their
ordinary lowering works in place at no cost; the convolutions go through the wrappers of
runtime_c/include/mc_inplace.h, which cost the copies of the input they save (--optimize memory)."""
from __future__ import annotations

import numpy as np

from microc.codegen.lowering import LoweringContext, register_in_place
from microc.codegen.ops.conv import _conv_patch_bytes, conv_kernel, lower_conv2d, lower_depthwise_conv2d
from microc.ir import DTYPE_BYTES, Op
from microc.planner import InPlace

BINARY = ("ADD", "SUB", "MUL")
UNARY = ("RELU", "RELU6", "RELU_N1_TO_1", "LEAKY_RELU", "QUANTIZE")
GROUPS = (16, 8, 4, 2)  # depthwise channels per pass beside all of them, where the arena has room
ROWS = (16, 8, 4, 2)  # 1x1 convolution rows per pass


def _binary(op: Op, schedule=None) -> InPlace | None:
    """An input with the output's shape and type (the other one may be broadcast)."""
    y = op.outputs[0]
    fits = tuple(i for i, t in enumerate(op.inputs[:2])
                 if t is not None and tuple(t.shape) == tuple(y.shape) and t.dtype == y.dtype)
    return InPlace(fits) if fits else None


def _unary(op: Op, schedule=None) -> InPlace | None:
    """Element i of the output is no wider than element i of the input, so a forward pass never writes
    over an element it has not read."""
    x, y = op.inputs[0], op.outputs[0]
    if x is None or x.size != y.size or DTYPE_BYTES[y.dtype] > DTYPE_BYTES[x.dtype]:
        return None
    return InPlace((0,))


def _helium(schedule) -> bool:
    """The wrappers call the portable kernels: a layer scheduled on the Helium ones (mc_mve.h) stays
    out of place."""
    return schedule is not None and schedule.isa == "mve"


def _depthwise(op: Op, schedule=None) -> InPlace | None:
    """Option: channels per pass (1, or more where the arena has room for their planes)."""
    x, w, y = op.inputs[0], op.inputs[1], op.outputs[0]
    if _helium(schedule) or x.dtype != "int8" or y.dtype != "int8" or len(x.shape) != 4 or len(y.shape) != 4 or x.shape[0] != 1:
        return None
    if not w.is_const or w.shape[-1] != x.shape[-1] or y.shape[-1] != x.shape[-1] or y.nbytes > x.nbytes:
        return None  # depth multiplier 1, and no more output pixels than input pixels
    planes, c = x.shape[1] * x.shape[2] + y.shape[1] * y.shape[2], x.shape[-1]
    groups = sorted({g for g in (c, *GROUPS) if c % g == 0 and g > 1}, reverse=True)
    return InPlace((0,), planes, 1, tuple((planes * g, g) for g in groups))


def _emit_depthwise(op: Op, ctx: LoweringContext) -> str:
    lower_depthwise_conv2d(op, ctx)
    p = ctx.last_struct("mc_dwconv_s8_t")
    g, (k_h, k_w, c) = ctx.plan.options[ctx.step], op.inputs[1].shape[1:]
    if g == c:
        weights = f"({p})->weights"
    else:
        grouped = op.inputs[1].data.reshape(k_h, k_w, c // g, g).transpose(2, 0, 1, 3)
        weights = ctx.const(np.ascontiguousarray(grouped), "wg", "int8_t", flash=True)
    return (f"mc_depthwise_conv2d_s8_inplace({p}, {weights}, {g}, {ctx.ptr(op.inputs[0])}, "
            f"(int8_t *){ctx.scratch()});")


def _int8_conv(op: Op) -> bool:
    x, w, y = op.inputs[0], op.inputs[1], op.outputs[0]
    return (x.dtype == y.dtype == "int8" and len(x.shape) == len(y.shape) == 4 and w.is_const
            and len(w.shape) == 4)


def _pointwise(op: Op) -> bool:
    """1x1, stride 1, no padding: every output pixel reads its own input pixel only."""
    x, w, y = op.inputs[0], op.inputs[1], op.outputs[0]
    return (tuple(w.shape[1:3]) == (1, 1) and tuple(op.attrs.get("stride", (1, 1))) == (1, 1)
            and not any(op.attrs.get("pads", (0, 0, 0, 0))) and tuple(x.shape[:3]) == tuple(y.shape[:3]))


def _row_window(op: Op) -> bool:
    """Stride and dilation 1 down the image, one batch, output rows no longer than input rows: output
    row y lands on input rows up to y only."""
    x, y = op.inputs[0], op.outputs[0]
    return (op.attrs.get("stride", (1, 1))[0] == 1 and op.attrs.get("dilation", (1, 1))[0] == 1
            and x.shape[0] == 1 and y.shape[2] * y.shape[3] <= x.shape[2] * x.shape[3]
            and y.shape[1] <= x.shape[1])


def _conv(op: Op, schedule=None) -> InPlace | None:
    """1x1: option = input rows saved per pass (1, or more where the arena has room). Other filters: a
    window of k_h input rows."""
    if _helium(schedule) or not _int8_conv(op):
        return None
    x, kernel = op.inputs[0], _conv_patch_bytes(op, schedule)
    row = x.shape[2] * x.shape[3]
    if _pointwise(op):
        rows = x.shape[0] * x.shape[1]
        passes = sorted({r for r in (rows, *ROWS) if rows % r == 0 and 1 < r < rows}, reverse=True)
        return InPlace((0,), row + kernel, 1, tuple((row * r + kernel, r) for r in passes))
    if _row_window(op):
        return InPlace((0,), op.inputs[1].shape[1] * row + kernel)
    return None


def _emit_conv(op: Op, ctx: LoweringContext) -> str:
    lower_conv2d(op, ctx)
    p = ctx.last_struct("mc_conv2d_s8_t")
    kernel = _conv_patch_bytes(op, ctx.schedule)
    base = f"((int8_t *){ctx.scratch()})"
    fn = conv_kernel(ctx.schedule)  # the layer's kernel, run on the saved rows
    io, saved, kernel_scratch = ctx.ptr(op.inputs[0]), f"{base} + {kernel}", base if kernel else "NULL"
    if _pointwise(op):
        rows = ctx.plan.options[ctx.step]
        return (f"mc_conv2d_s8_1x1_inplace({p}, {fn}, {rows}, {io}, {saved}, "
                f"{kernel_scratch});")
    return f"mc_conv2d_s8_rows_inplace({p}, {fn}, {io}, {saved}, {kernel_scratch});"


for _t in BINARY:
    register_in_place(_t, _binary)
for _t in UNARY:
    register_in_place(_t, _unary)
register_in_place("DEPTHWISE_CONV_2D", _depthwise, _emit_depthwise, free=False)
register_in_place("CONV_2D", _conv, _emit_conv, free=False)
