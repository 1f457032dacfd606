"""Lowerings of the elementwise kernels (runtime_c/include/mc_elementwise.h): ADD, SUB, MUL."""
from __future__ import annotations

import numpy as np

from microc.codegen.lowering import LoweringContext, c_int, isa_schedules, lowering, unsupported
from microc.codegen.ops import mve
from microc.codegen.ops.common import act_fields, c_init, merge_dims, require_dtype
from microc.codegen.fixedpoint import multiply_by_quantized_multiplier
from microc.codegen.quant import quantize_multiplier
from microc.codegen.schedule import Schedule
from microc.ir import Op

MAX_DIMS = 6  # MC_BCAST_MAX_DIMS; TFLM broadcasts up to 6-D (BroadcastAdd6DSlow and the like)
LEFT_SHIFT = 20  # TFLM's int8 ADD/SUB headroom
LEFT_SHIFT_S16 = 15  # and its int16 one


def broadcast_shape(op: Op) -> dict:
    """mc_bcast_t for output = f(a, b): each input's strides (0 where it is broadcast), merged."""
    out = list(op.outputs[0].shape) or [1]
    rank = len(out)
    per_input = []
    for t in op.inputs[:2]:
        if len(t.shape) > rank:
            raise unsupported(op, f"input {t.shape} has more dimensions than output {tuple(out)}")
        shape = [1] * (rank - len(t.shape)) + list(t.shape)
        if any(d not in (1, o) for d, o in zip(shape, out)):
            raise unsupported(op, f"input {t.shape} does not broadcast to output {tuple(out)}")
        strides = [int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(rank)]
        per_input.append([0 if d == 1 else s for d, s in zip(shape, strides)])
    if tuple(op.inputs[0].shape) != tuple(op.inputs[1].shape) and rank > MAX_DIMS:
        raise unsupported(op, f"broadcasting rank-{rank} tensors (TFLM broadcasts up to rank {MAX_DIMS})")
    dims, (a_st, b_st) = merge_dims(out, *per_input)
    if len(dims) > MAX_DIMS:
        raise unsupported(op, f"output {tuple(out)} needs more than {MAX_DIMS} broadcast dimensions")
    pad = [0] * (MAX_DIMS - len(dims))
    return dict(rank=len(dims), dims=dims + pad, a_stride=a_st + pad, b_stride=b_st + pad)


def _check_operands(op: Op, dtypes: tuple[str, ...] = ("int8", "float32")) -> str:
    dtype = require_dtype(op, dtypes)
    if len(op.inputs) != 2 or op.inputs[1] is None or op.inputs[1].dtype != dtype:
        raise unsupported(op, f"needs two {dtype} inputs")
    if op.attrs.get("activation", "NONE") not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        raise unsupported(op, f"fused activation {op.attrs['activation']} is not supported")
    if dtype in ("int8", "int16"):
        for t in (*op.inputs, *op.outputs):
            if t.quant is None or t.quant.per_channel:
                raise unsupported(op, f"int8 tensor '{t.name}' must be per-tensor quantized")
    return dtype


INT32_RANGES = {"NONE": (-(2**31), 2**31 - 1), "RELU": (0, 2**31 - 1), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}


def int32_act_fields(op: Op) -> dict:
    """TFLM's int32 clamp: the fused activation's range (CalculateActivationRange), except for ADD,
    whose int32 path clamps to the whole int32 range whatever the activation."""
    lo, hi = INT32_RANGES["NONE" if op.type == "ADD" else op.attrs.get("activation", "NONE")]
    return {"act_min": c_int(lo), "act_max": c_int(hi)}


def _smaller_than_one(op: Op, m: float, what: str) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp: TFLM aborts unless 0 < m < 1."""
    if not 0.0 < m < 1.0:
        raise unsupported(op, f"the {what} rescale {m:g} is outside (0, 1) (output scale too small)")
    return quantize_multiplier(m)


def add_sub_params(op: Op, ctx: LoweringContext) -> dict:
    """TFLM's CalculateOpDataAdd/Sub, in double. (Some TFLM sources compute SUB's in float32; the
    installed reference is bit-exact only with double, which the tests check.) Each input's rescale
    to the common scale depends on its int8 value only: tabulated here, 256 entries per input; SUB
    negates b's table (exact: |entries| < 2^29) and runs the ADD kernel."""
    s1, s2, so = (float(np.float32(t.quant.s)) for t in (op.inputs[0], op.inputs[1], op.outputs[0]))
    twice = 2.0 * max(s1, s2)
    mo, sho = _smaller_than_one(op, twice / ((1 << LEFT_SHIFT) * so), "output")
    fields = {}
    for key, t, s, sign in (("a_table", op.inputs[0], s1, 1), ("b_table", op.inputs[1], s2,
                                                                   -1 if op.type == "SUB" else 1)):
        m, sh = _smaller_than_one(op, s / twice, "input")
        table = [sign * multiply_by_quantized_multiplier((q - t.quant.zp) << LEFT_SHIFT, m, sh)
                 for q in range(-128, 128)]
        fields[key] = ctx.const(np.array(table, np.int32), key, "int32_t")
    return {**fields, "out_multiplier": mo, "out_shift": sho, "out_offset": op.outputs[0].quant.zp}


def add_sub_s16_params(op: Op) -> dict:
    """TFLM's CalculateOpDataAdd/Sub for int16 (left shift 15), in double as for int8; applied per
    element on the device (mc_add_s16)."""
    a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
    s1, s2, so = (float(np.float32(t.quant.s)) for t in (a, b, y))
    twice = 2.0 * max(s1, s2)
    mo, sho = _smaller_than_one(op, twice / ((1 << LEFT_SHIFT_S16) * so), "output")
    ma, sha = _smaller_than_one(op, s1 / twice, "input")
    mb, shb = _smaller_than_one(op, s2 / twice, "input")
    return {"a_offset": -a.quant.zp, "b_offset": -b.quant.zp, "left_shift": LEFT_SHIFT_S16,
            "b_sign": -1 if op.type == "SUB" else 1, "a_multiplier": ma, "a_shift": sha,
            "b_multiplier": mb, "b_shift": shb, "out_multiplier": mo, "out_shift": sho,
            "out_offset": y.quant.zp}


def _offsets(op: Op) -> dict:
    a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
    return dict(a_offset=-a.quant.zp, b_offset=-b.quant.zp, out_offset=y.quant.zp)


def _add_schedules(op: Op, isas: tuple[str, ...]) -> list[Schedule]:
    """The Helium ADD/SUB (mc_mve.h) for int8 inputs of the output's shape."""
    y = op.outputs[0]
    fits = y.dtype == "int8" and all(t is not None and tuple(t.shape) == tuple(y.shape) for t in op.inputs[:2])
    return mve.offered(isas, fits, [Schedule("mve")], isa_schedules(op, isas))


@lowering("ADD", schedules=_add_schedules)
@lowering("SUB", schedules=_add_schedules)
@lowering("MUL", schedules=isa_schedules)
def lower_binary(op: Op, ctx: LoweringContext) -> str:
    dtype = _check_operands(op, ("int8", "int16", "float32") if op.type == "SUB"
                            else ("int8", "int16", "float32", "int32"))
    a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
    name = op.type.lower()
    fields = {"shape": c_init(broadcast_shape(op))}
    args = f"{ctx.ptr(a)}, {ctx.ptr(b)}, {ctx.ptr(y)}"
    if dtype == "int32":
        p = ctx.struct("mc_binary_s32_t", name, {**fields, **int32_act_fields(op)})
        return f"mc_{name}_s32({p}, {args});"
    if dtype == "float32":
        p = ctx.struct("mc_binary_f32_t", name, {**fields, **act_fields(op, y)})
        return f"mc_{name}_f32({p}, {args});"
    if op.type == "MUL":
        mult, shift = quantize_multiplier(float(np.float32(a.quant.s)) * float(np.float32(b.quant.s))
                                          / float(np.float32(y.quant.s)))
        if dtype == "int16" and any(t.quant.zp for t in (a, b, y)):  # TFLM checks this
            raise unsupported(op, "int16 MUL needs zero points 0")
        p = ctx.struct("mc_mul_s8_t", name, {**fields, **_offsets(op), "multiplier": mult,
                                              "shift": shift, **act_fields(op, y)})
        return f"mc_mul_{'s16' if dtype == 'int16' else 's8'}({p}, {args});"
    if dtype == "int16":
        p = ctx.struct("mc_add_s16_t", name, {**fields, **add_sub_s16_params(op), **act_fields(op, y)})
        return f"mc_add_s16({p}, {args});"  # SUB: b_sign -1
    p = ctx.struct("mc_add_s8_t", name, {**fields, **add_sub_params(op, ctx), **act_fields(op, y)})
    if mve.on_mve(ctx):
        return f"mc_add_s8_mve({p}, {args});"  # same shapes: one row
    return f"mc_add_s8({p}, {args});"  # SUB: b_table is negated
