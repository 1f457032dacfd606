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


def requant_arrays(ctx: LoweringContext, inp: Tensor, w: Tensor, out: Tensor) -> tuple[str, str]:
    mult, shift = per_channel_multipliers(inp, w, out)
    return ctx.const(mult, "mult", "int32_t"), ctx.const(shift, "shift", "int32_t")


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
