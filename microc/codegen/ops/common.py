"""Pieces shared by the lowerings: dtype checks, requantization arrays, folded biases."""
from __future__ import annotations

import numpy as np

from microc.codegen.lowering import LoweringContext, c_float, unsupported
from microc.codegen.quant import activation_range, per_channel_multipliers
from microc.ir import Op, Tensor


def require_dtype(op: Op, dtypes: tuple[str, ...] = ("int8", "float32")) -> str:
    """The operator's data type (of its first input), or an error naming what is supported."""
    dtype = op.inputs[0].dtype
    if dtype not in dtypes or op.outputs[0].dtype != dtype:
        raise unsupported(op, f"{dtype} -> {op.outputs[0].dtype} is not supported "
                              f"(supported: {', '.join(dtypes)})")
    return dtype


def refuse_hybrid(op: Op, x: Tensor, w: Tensor) -> None:
    """Weights of another type than the activations ("hybrid": int8 weights, float32 activations). TFLM
    refuses such models, so there is no reference to match; TFLite's hybrid kernels quantize the
    activations at run time, which float kernels on dequantized weights would not reproduce."""
    if w.dtype != x.dtype:
        raise unsupported(op, f"{w.dtype} weights with {x.dtype} activations (hybrid) are not supported, as in "
                              "TFLM: compile the model's int8 version, or quantize its float32 original "
                              "(microc quantize)")


def requant_arrays(ctx: LoweringContext, inp: Tensor, w: Tensor, out: Tensor,
                   flash: bool = False) -> tuple[str, str]:
    """`flash`: the kernel reads them through MC_READ_S32 (LoweringContext.const)."""
    mult, shift = per_channel_multipliers(inp, w, out)
    return ctx.const(mult, "mult", "int32_t", flash), ctx.const(shift, "shift", "int32_t", flash)


def requant_table(inp: Tensor, w: Tensor, out: Tensor) -> np.ndarray:
    """Per channel the 4 words of mc_requantize_row_s8 (mc_conv.h): for a right shift R >= 1 and a
    multiplier >= 0, the rounding constant 2^30 + 2^(30 + R) as low and high words, the multiplier and
    R - 1; otherwise (shift, 0, multiplier, -1) for mc_requantize."""
    mult, shift = per_channel_multipliers(inp, w, out)
    rows = []
    for m, s in zip(np.asarray(mult).tolist(), np.asarray(shift).tolist()):
        if s <= -1 and m >= 0:
            c = (1 << 30) + (1 << (30 - s))
            lo, hi = c & 0xFFFFFFFF, c >> 32
            rows.append((lo - (1 << 32) if lo >= 1 << 31 else lo, hi, m, -s - 1))
        else:
            rows.append((s, 0, m, -1))
    return np.array(rows, np.int64).astype(np.int32)


def folded_bias(op: Op, w: Tensor, bias: Tensor | None, in_zp: int, channels: int,
                weight_sums: np.ndarray) -> np.ndarray:
    """bias - in_zp * sum(w) per output channel: the input zero point leaves the inner loop."""
    if w.quant is not None and np.any(w.quant.zero_point != 0):
        raise unsupported(op, "int8 weights with a non-zero zero point are not supported")
    b = np.zeros(channels, np.int64) if bias is None else bias.data.astype(np.int64)
    folded = b - in_zp * weight_sums.astype(np.int64)
    return folded.astype(np.int64).astype(np.int32)


def act_fields(op: Op, out: Tensor) -> dict:
    lo, hi = activation_range(op.attrs.get("activation", "NONE"), out)
    if out.dtype == "float32":
        return {"act_min": c_float(lo), "act_max": c_float(hi)}
    return {"act_min": lo, "act_max": hi}


def c_list(fields: dict) -> dict:
    """Struct fields with list values written as C array initializers ({1, 2}), for ctx.struct."""
    return {k: "{" + ", ".join(str(int(x)) for x in v) + "}" if isinstance(v, (list, tuple)) else v
            for k, v in fields.items()}


def c_init(fields: dict) -> str:
    """A C designated initializer for a nested struct field: {.a = 1, .dims = {1, 2}}."""
    return "{" + ", ".join(f".{k} = {v}" for k, v in c_list(fields).items()) + "}"


def merge_dims(dims: list[int], *strides: list[int]) -> tuple[list[int], list[list[int]]]:
    """Drop size-1 dimensions and merge each dimension into its outer neighbour where every stride
    list is contiguous across the pair (outer stride = inner stride * inner size), so kernels loop
    over as few dimensions as possible. Returns at least one dimension."""
    out_d: list[int] = []
    out_s: list[list[int]] = [[] for _ in strides]
    for i, d in enumerate(dims):
        if d == 1:
            continue
        if out_d and all(o[-1] == s[i] * d for o, s in zip(out_s, strides)):
            out_d[-1] *= d
            for o, s in zip(out_s, strides):
                o[-1] = s[i]
        else:
            out_d.append(d)
            for o, s in zip(out_s, strides):
                o.append(s[i])
    if not out_d:
        return [1], [[0] for _ in strides]
    return out_d, out_s
