"""Lowerings of the shape kernels (runtime_c/include/mc_shape.h): CONCATENATION, PAD, PADV2, TRANSPOSE,
and RESHAPE/SQUEEZE, which the planner usually aliases onto their input (then they emit no code)."""
from __future__ import annotations

import numpy as np

from microc.codegen.lowering import LoweringContext, lowering, unsupported
from microc.codegen.ops.common import c_list, merge_dims, require_dtype
from microc.ir import DTYPE_BYTES, Op, Tensor

MAX_CONCAT_INPUTS = 10  # TFLM's kMaxInputNum
PAD_MAX_DIMS = 5  # MC_PAD_MAX_DIMS, TFLM's PadKernelMaxDimensionCount
TRANSPOSE_MAX_DIMS = 6  # MC_TRANSPOSE_MAX_DIMS


def _same_quant(op: Op, tensors: list[Tensor]) -> None:
    """Raw int8 values are copied, so every tensor must be quantized like the output (TFLM checks)."""
    y = op.outputs[0]
    for t in tensors:
        if t.quant is None or y.quant is None or t.quant.per_channel or \
                np.float32(t.quant.s) != np.float32(y.quant.s) or t.quant.zp != y.quant.zp:
            raise unsupported(op, f"int8 input '{t.name}' must share the output's scale and zero point")


# ---- RESHAPE, SQUEEZE ----

@lowering("RESHAPE")
@lowering("SQUEEZE")
def lower_reshape(op: Op, ctx: LoweringContext) -> str:
    x, y = op.inputs[0], op.outputs[0]
    if x.nbytes != y.nbytes:
        raise unsupported(op, f"input {x.shape} and output {y.shape} differ in size")
    if not x.is_const and not x.variable and ctx.plan.offset_of(x) == ctx.plan.offset_of(y):
        return f"(void)0; /* {op.type}: the output is placed on the input, nothing to do */"
    # Not aliased (a constant input, or an output the planner placed elsewhere): copy.
    return f"memcpy({ctx.ptr(y)}, {ctx.ptr(x)}, {x.nbytes});"


# ---- CONCATENATION ----

@lowering("CONCATENATION")
def lower_concatenation(op: Op, ctx: LoweringContext) -> str:
    dtype = require_dtype(op, ("int8", "int16", "float32", "int32"))  # int32: raw values, as TFLM
    y, inputs = op.outputs[0], [t for t in op.inputs if t is not None]
    rank = len(y.shape)
    if not 1 <= len(inputs) <= MAX_CONCAT_INPUTS:
        raise unsupported(op, f"{len(inputs)} inputs (TFLM concatenates 1 to {MAX_CONCAT_INPUTS})")
    if op.attrs.get("activation", "NONE") != "NONE":
        raise unsupported(op, "a fused activation is not supported (TFLM requires NONE)")
    axis = op.attrs.get("axis", 0)
    if not -rank <= axis < rank:
        raise unsupported(op, f"axis {axis} is out of range for rank {rank}")
    axis %= rank
    for t in inputs:
        if t.dtype != dtype or len(t.shape) != rank or \
                any(a != b for i, (a, b) in enumerate(zip(t.shape, y.shape)) if i != axis):
            raise unsupported(op, f"input '{t.name}' {t.shape} {t.dtype} does not fit output {y.shape}")
    if sum(t.shape[axis] for t in inputs) != y.shape[axis]:
        raise unsupported(op, f"inputs do not add up to the output's axis {axis}")
    if dtype == "int8":
        _same_quant(op, inputs)
    elif dtype == "int16" and any(t.quant is None or t.quant.per_channel or t.quant.zp != 0
                                  for t in (*inputs, y)):
        raise unsupported(op, "int16 tensors must have zero point 0 (TFLM copies them without rescaling)")
    outer = int(np.prod(y.shape[:axis], dtype=np.int64))
    block = [int(np.prod(t.shape[axis:], dtype=np.int64)) * DTYPE_BYTES[dtype] for t in inputs]
    ptrs = ctx.unique("concat_in")
    ctx.decl(f"static const void *const {ptrs}[{len(inputs)}] = "
             f"{{{', '.join(ctx.ptr(t) for t in inputs)}}};")
    p = ctx.struct("mc_concat_t", "concat", {
        "n_inputs": len(inputs), "outer": outer, "inputs": ptrs,
        "bytes": ctx.const(np.array(block, np.int32), "concat_bytes", "int32_t")})
    return f"mc_concatenation({p}, {ctx.ptr(y)});"


# ---- PAD, PADV2 ----

def _paddings(op: Op) -> list[tuple[int, int]]:
    x, pads = op.inputs[0], op.inputs[1] if len(op.inputs) > 1 else None
    if pads is None or not pads.is_const or pads.dtype not in ("int32", "int64"):
        raise unsupported(op, "paddings must be a constant int32 tensor")
    data = pads.data.reshape(-1, 2) if pads.data.size == 2 * len(x.shape) else None
    if data is None:
        raise unsupported(op, f"paddings {pads.shape} do not match a rank-{len(x.shape)} input")
    if (data < 0).any():
        raise unsupported(op, "negative paddings are not supported")
    return [(int(a), int(b)) for a, b in data]


def pad_geometry(in_shape: tuple[int, ...], pads: list[tuple[int, int]]) -> dict:
    """Dimensions without padding merged into their outer neighbour; at least one dimension."""
    ins, outs, before = [], [], []
    for d, (lo, hi) in zip(in_shape, pads):
        if ins and lo == 0 and hi == 0:
            ins[-1] *= d
            outs[-1] *= d
            before[-1] *= d
        else:
            ins.append(d)
            outs.append(d + lo + hi)
            before.append(lo)
    if not ins:
        ins, outs, before = [1], [1], [0]
    return dict(in_dims=ins, out_dims=outs, before=before)


def _pad_bits(op: Op, dtype: str) -> int:
    """The pad value's raw bits: PADV2's constant, else the output zero point (int8) or 0 (int16: TFLM
    pads with 0 whatever the zero point; float32: 0.0)."""
    value = op.inputs[2] if len(op.inputs) > 2 else None
    if value is not None:
        if not value.is_const or value.dtype != dtype or value.size != 1:
            raise unsupported(op, f"the pad value must be a constant {dtype} scalar")
        raw = value.data.reshape(-1)[:1]
    elif dtype == "int8":
        raw = np.array([op.outputs[0].quant.zp], np.int8)
    else:
        raw = np.zeros(1, np.dtype(dtype))
    return int(raw.view({"int8": np.uint8, "int16": np.uint16}.get(dtype, np.uint32))[0])


@lowering("PAD")
@lowering("PADV2")
def lower_pad(op: Op, ctx: LoweringContext) -> str:
    dtype = require_dtype(op, ("int8", "int16", "float32"))
    x, y = op.inputs[0], op.outputs[0]
    if len(x.shape) > PAD_MAX_DIMS:
        raise unsupported(op, f"rank {len(x.shape)} (TFLM pads rank <= {PAD_MAX_DIMS})")
    pads = _paddings(op)
    if tuple(d + lo + hi for d, (lo, hi) in zip(x.shape, pads)) != tuple(y.shape):
        raise unsupported(op, f"output {y.shape} does not match input {x.shape} with paddings {pads}")
    g = pad_geometry(x.shape, pads)
    bits = _pad_bits(op, dtype)
    pad = [0] * (PAD_MAX_DIMS - len(g["in_dims"]))
    p = ctx.struct("mc_pad_t", "pad", c_list({
        "rank": len(g["in_dims"]), "elem_bytes": DTYPE_BYTES[dtype],
        "in_dims": g["in_dims"] + pad, "out_dims": g["out_dims"] + pad, "before": g["before"] + pad,
        "pad_bits": f"{bits}u"}))
    return f"mc_pad({p}, {ctx.ptr(x)}, {ctx.ptr(y)});"


# ---- TRANSPOSE ----

def transpose_geometry(in_shape: tuple[int, ...], perm: list[int]) -> dict:
    """Output dimensions with their input strides; unit dimensions dropped, contiguous ones merged."""
    strides = [int(np.prod(in_shape[i + 1:], dtype=np.int64)) for i in range(len(in_shape))]
    dims, (in_strides,) = merge_dims([in_shape[p] for p in perm], [strides[p] for p in perm])
    return dict(out_dims=dims, in_strides=in_strides)


def _permutation(op: Op) -> list[int]:
    """The permutation: a constant int32 second input (TFLite), or attrs['perm'] (importers)."""
    if "perm" in op.attrs:
        return [int(p) for p in op.attrs["perm"]]
    perm = op.inputs[1] if len(op.inputs) > 1 else None
    if perm is None or not perm.is_const or perm.dtype not in ("int32", "int64"):
        raise unsupported(op, "the permutation must be a constant int32 tensor")
    return [int(p) for p in perm.data.reshape(-1)]


@lowering("TRANSPOSE")
def lower_transpose(op: Op, ctx: LoweringContext) -> str:
    dtype = require_dtype(op, ("int8", "int16", "float32"))
    x, y = op.inputs[0], op.outputs[0]
    rank = len(x.shape)
    given = _permutation(op)
    perm = [p % rank for p in given if -rank <= p < rank]
    if sorted(perm) != list(range(rank)):
        raise unsupported(op, f"{given} is not a permutation of {rank} axes")
    if rank > TRANSPOSE_MAX_DIMS:
        raise unsupported(op, f"rank {rank} (at most {TRANSPOSE_MAX_DIMS})")
    if tuple(x.shape[p] for p in perm) != tuple(y.shape):
        raise unsupported(op, f"output {y.shape} is not input {x.shape} permuted by {perm}")
    g = transpose_geometry(x.shape, perm)
    pad = [0] * (TRANSPOSE_MAX_DIMS - len(g["out_dims"]))
    p = ctx.struct("mc_transpose_t", "transpose", c_list({
        "rank": len(g["out_dims"]), "elem_bytes": DTYPE_BYTES[dtype],
        "out_dims": g["out_dims"] + pad, "in_strides": g["in_strides"] + pad}))
    return f"mc_transpose({p}, {ctx.ptr(x)}, {ctx.ptr(y)});"

