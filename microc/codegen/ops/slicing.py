"""STRIDED_SLICE, SPLIT, SPLIT_V: each output is a strided view of the input, copied by the strided
gather kernel that TRANSPOSE uses (mc_transpose: output dimensions with their input strides), its input
pointer moved to the first element. Nothing is computed: int8 values are copied raw, as TFLM does."""
from __future__ import annotations

import numpy as np

from microc.codegen.lowering import LoweringContext, lowering, unsupported
from microc.codegen.ops.common import c_list, merge_dims, require_dtype
from microc.codegen.ops.shape import TRANSPOSE_MAX_DIMS
from microc.ir import DTYPE_BYTES, Op, Tensor

SLICE_MAX_DIMS = 4  # TFLM refuses more ("input dim should not exceed 4")
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def _const_ints(op: Op, t: Tensor | None, what: str) -> list[int]:
    if t is None or not t.is_const or t.dtype not in ("int32", "int64"):
        raise unsupported(op, f"{what} must be a constant int32 tensor")
    return [int(v) for v in t.data.reshape(-1)]


def strided_copy(ctx: LoweringContext, x: Tensor, y: Tensor, ranges: list[tuple[int, int, int]]) -> str:
    """Copy into y the elements of x at start + k * step along each axis (k < count): one call of the
    strided gather kernel, or nothing for an empty output."""
    if any(count == 0 for _, _, count in ranges):
        return "(void)0; /* empty slice */"
    strides = [int(np.prod(x.shape[i + 1:], dtype=np.int64)) for i in range(len(x.shape))]
    first = sum(start * s for (start, _, _), s in zip(ranges, strides))
    dims, (in_strides,) = merge_dims([c for _, _, c in ranges], [st * s for (_, st, _), s in zip(ranges, strides)])
    eb = DTYPE_BYTES[x.dtype]
    pad = [0] * (TRANSPOSE_MAX_DIMS - len(dims))
    p = ctx.struct("mc_transpose_t", "slice", c_list({
        "rank": len(dims), "elem_bytes": eb, "out_dims": dims + pad, "in_strides": in_strides + pad}))
    return f"mc_transpose({p}, (const uint8_t *){ctx.ptr(x)} + {first * eb}, {ctx.ptr(y)});"


# ---- STRIDED_SLICE ----

def _start(begin: int, stride: int, dim: int, masked: bool) -> int:
    """TFLite's StartForAxis (strided_slice_logic.h)."""
    start = (_INT_MIN if stride > 0 else _INT_MAX) if masked else begin
    if start < 0:
        start += dim
    return min(max(start, 0), dim) if stride > 0 else min(max(start, -1), dim - 1)


def _stop(end: int, stride: int, dim: int, masked: bool) -> int:
    """TFLite's StopForAxis, without the shrink case (the caller's)."""
    stop = (_INT_MAX if stride > 0 else _INT_MIN) if masked else end
    if stop < 0:
        stop += dim
    return min(max(stop, 0), dim) if stride > 0 else min(max(stop, -1), dim - 1)


def slice_ranges(op: Op) -> list[tuple[int, int, int]]:
    """(start, step, count) per input axis, with TFLite's masks and clamping."""
    x = op.inputs[0]
    rank = len(x.shape)
    begin, end, strides = (_const_ints(op, op.inputs[i] if len(op.inputs) > i else None, what)
                           for i, what in ((1, "begin"), (2, "end"), (3, "strides")))
    a = op.attrs
    for mask in ("ellipsis_mask", "new_axis_mask", "offset"):
        if a.get(mask):  # TFLM ignores them and then rejects the output shape
            raise unsupported(op, f"{mask} is not supported (TFLM does not implement it)")
    if not len(begin) == len(end) == len(strides) == rank:
        raise unsupported(op, f"begin/end/strides of length {len(begin)} do not match rank {rank}")
    if rank > SLICE_MAX_DIMS:
        raise unsupported(op, f"rank {rank} (TFLM slices rank <= {SLICE_MAX_DIMS})")
    ranges = []
    for axis, (b, e, s, dim) in enumerate(zip(begin, end, strides, x.shape)):
        if s == 0:
            raise unsupported(op, f"stride 0 on axis {axis}")
        bit = 1 << axis
        start = _start(b, s, dim, bool(a.get("begin_mask", 0) & bit))
        if a.get("shrink_axis_mask", 0) & bit:
            stop = start + 1
        else:
            stop = _stop(e, s, dim, bool(a.get("end_mask", 0) & bit))
        count = max(0, -(-(stop - start) // s) if s > 0 else -(-(start - stop) // -s))
        if count and not (0 <= start < dim and 0 <= start + (count - 1) * s < dim):
            raise unsupported(op, f"the slice of axis {axis} reads outside the input")
        ranges.append((start, s, count))
    return ranges


@lowering("STRIDED_SLICE")
def lower_strided_slice(op: Op, ctx: LoweringContext) -> str:
    dtype = require_dtype(op, ("int8", "int16", "float32", "int32"))  # int32: raw values, as TFLM
    x, y = op.inputs[0], op.outputs[0]
    ranges = slice_ranges(op)
    kept = [c for axis, (_, _, c) in enumerate(ranges) if not op.attrs.get("shrink_axis_mask", 0) & (1 << axis)]
    if int(np.prod(kept, dtype=np.int64)) != y.size or [d for d in kept if d != 1] != [d for d in y.shape if d != 1]:
        raise unsupported(op, f"output {y.shape} does not match the slice {tuple(kept)} of input {x.shape}")
    if dtype in ("int8", "int16"):
        _raw_copy_quant(op, x, y)
    return strided_copy(ctx, x, y, ranges)


def _raw_copy_quant(op: Op, x: Tensor, y: Tensor) -> None:
    """Integer values are copied raw: the output must be quantized like the input."""
    if x.quant is None or y.quant is None or x.quant.per_channel or y.quant.per_channel or \
            np.float32(x.quant.s) != np.float32(y.quant.s) or x.quant.zp != y.quant.zp:
        raise unsupported(op, f"{y.dtype} output '{y.name}' must share the input's scale and zero point")


# ---- SPLIT, SPLIT_V ----

def _split_axis(op: Op, axis_tensor: Tensor | None, rank: int) -> int:
    values = _const_ints(op, axis_tensor, "the axis")
    axis = values[0] if len(values) == 1 else None
    if axis is None or not -rank <= axis < rank:
        raise unsupported(op, f"axis {axis} is out of range for rank {rank}")
    return axis % rank


@lowering("SPLIT")
@lowering("SPLIT_V")
def lower_split(op: Op, ctx: LoweringContext) -> str:
    if op.type == "SPLIT":  # inputs: axis, input
        x, axis_t = op.inputs[1], op.inputs[0]
    else:  # inputs: input, size_splits, axis
        x, axis_t = op.inputs[0], op.inputs[2] if len(op.inputs) > 2 else None
    dtype = x.dtype
    if dtype not in ("int8", "int16", "float32") or any(y.dtype != dtype for y in op.outputs):
        raise unsupported(op, f"{dtype} is not supported (supported: int8, int16, float32)")
    rank = len(x.shape)
    axis = _split_axis(op, axis_t, rank)
    if sum(y.shape[axis] if len(y.shape) == rank else -1 for y in op.outputs) != x.shape[axis] or any(
            tuple(y.shape[:axis] + y.shape[axis + 1:]) != tuple(x.shape[:axis] + x.shape[axis + 1:])
            for y in op.outputs):
        raise unsupported(op, f"outputs {[y.shape for y in op.outputs]} do not split input {x.shape} on axis {axis}")
    calls, start = [], 0
    for y in op.outputs:
        if dtype != "float32":
            _raw_copy_quant(op, x, y)
        ranges = [(start if d == axis else 0, 1, y.shape[d]) for d in range(rank)]
        calls.append(strided_copy(ctx, x, y, ranges))
        start += y.shape[axis]
    return "{ " + " ".join(calls) + " }"
