"""Lowerings of the index kernels (runtime_c/include/mc_index.h): GATHER, ARG_MAX, ARG_MIN, CAST.

GATHER is TFLite's (input, int32 coordinates, axis, batch_dims); ONNX-ML's ArrayFeatureExtractor imports
to it with constant coordinates. Values are copied raw, as TFLM does (int8 keeps the input's
quantization). The shapes were checked by the validation pass (microc/passes/validate.py)."""
from __future__ import annotations

import numpy as np

from microc.codegen.lowering import LoweringContext, lowering, unsupported
from microc.ir import DTYPE_BYTES, Op
from microc.passes.validate import const_axis, gather_axes

CAST_TYPES = {"int8": "MC_T_INT8", "int16": "MC_T_INT16", "int32": "MC_T_INT32", "float32": "MC_T_FLOAT32",
              "bool": "MC_T_BOOL", "uint32": "MC_T_UINT32"}


def _prod(dims) -> int:
    return int(np.prod(dims, dtype=np.int64))


@lowering("GATHER")
def lower_gather(op: Op, ctx: LoweringContext) -> str:
    x, coords, y = op.inputs[0], op.inputs[1], op.outputs[0]
    rank, (axis, batch_dims) = len(x.shape), gather_axes(op)
    if coords.is_const and (np.any(coords.data < 0) or np.any(coords.data >= x.shape[axis])):
        raise unsupported(op, f"coordinates {coords.data.reshape(-1).tolist()} outside the axis's "
                              f"0..{x.shape[axis] - 1}")
    p = ctx.struct("mc_gather_t", "gather", {
        "batches": _prod(x.shape[:batch_dims]), "outer": _prod(x.shape[batch_dims:axis]),
        "axis_size": x.shape[axis], "n_coords": _prod(coords.shape[batch_dims:]),
        "inner_bytes": _prod(x.shape[axis + 1:rank]) * DTYPE_BYTES[x.dtype]})
    # A coordinate outside the axis (run-time coordinates) stops the inference with an error.
    return (f"if (mc_gather({p}, (const uint8_t *){ctx.ptr(x)}, {ctx.ptr(coords)}, "
            f"(uint8_t *){ctx.ptr(y)}) != 0) return 1;")


@lowering("ARG_MAX")
@lowering("ARG_MIN")
def lower_arg_minmax(op: Op, ctx: LoweringContext) -> str:
    x, y = op.inputs[0], op.outputs[0]
    if x.dtype not in ("int8", "float32"):
        raise unsupported(op, f"{x.dtype} input is not supported (supported: int8, float32, as TFLM)")
    axis = const_axis(op, op.inputs[1], len(x.shape))  # valid: checked by the validation pass
    p = ctx.struct("mc_arg_minmax_t", "arg", {
        "outer": _prod(x.shape[:axis]), "axis_size": x.shape[axis], "inner": _prod(x.shape[axis + 1:]),
        "is_max": op.type == "ARG_MAX"})
    return f"mc_arg_minmax_{'s8' if x.dtype == 'int8' else 'f32'}({p}, {ctx.ptr(x)}, {ctx.ptr(y)});"


@lowering("CAST")
def lower_cast(op: Op, ctx: LoweringContext) -> str:
    x, y = op.inputs[0], op.outputs[0]
    if x.dtype not in CAST_TYPES or y.dtype not in CAST_TYPES or y.dtype == "bool" or \
            "uint32" in (x.dtype, y.dtype) and "float32" in (x.dtype, y.dtype):
        raise unsupported(op, f"{x.dtype} -> {y.dtype} is not supported (microc casts int8, int16, int32, "
                              "float32 and bool to int8, int16, int32, float32; uint32 to and from the integers)")
    p = ctx.struct("mc_cast_t", "cast", {"size": y.size, "in_type": CAST_TYPES[x.dtype],
                                         "out_type": CAST_TYPES[y.dtype]})
    return f"mc_cast({p}, {ctx.ptr(x)}, {ctx.ptr(y)});"
