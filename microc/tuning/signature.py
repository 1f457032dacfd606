"""What identifies a layer to the tuner: the operator, its shapes and its quantization signature, the
same in every model that has that layer. Two layers with one signature run the same code for any
schedule, so a measurement of one stands for the other."""
from __future__ import annotations

import json
import math

import numpy as np

from microc.ir import Op


def _plain(value):
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def signature(op: Op) -> str:
    """A canonical string: operator, every input's and output's shape and dtype (constants marked, and
    whether their quantization is per channel), and the operator's scalar attributes (strides, pads,
    activation...). Quantization scales are left out: they change constants, not the code that runs."""
    def tensor(t):
        if t is None:
            return None
        return [list(t.shape), t.dtype, bool(t.is_const),
                bool(t.quant is not None and t.quant.per_channel)]
    attrs = {k: _plain(v) for k, v in sorted(op.attrs.items())
             if isinstance(v, (int, float, str, bool, tuple, list, np.generic))}
    attrs.update({k: v.digest() for k, v in op.attrs.items() if hasattr(v, "digest")})  # tree ensembles
    return json.dumps({"op": op.type, "in": [tensor(t) for t in op.inputs],
                       "out": [tensor(t) for t in op.outputs], "attrs": attrs},
                      separators=(",", ":"), sort_keys=True)


def features(op: Op) -> dict:
    """Numbers about the layer's shape that a cost model can learn from (kept in each record)."""
    x = op.inputs[0] if op.inputs else None
    w = op.inputs[1] if len(op.inputs) > 1 and op.inputs[1] is not None and op.inputs[1].is_const else None
    out = op.outputs[0]
    xs = list(x.shape) if x is not None else []
    os_ = list(out.shape)
    ws = list(w.shape) if w is not None else []
    macs = out.size * (int(np.prod(ws[1:])) if len(ws) == 4 and op.type == "CONV_2D"
                       else int(np.prod(ws[1:3])) if len(ws) == 4
                       else ws[-1] if ws else 1)
    stride = op.attrs.get("stride", (1, 1))
    return {"in_h": _dim(xs, -3), "in_w": _dim(xs, -2), "in_c": _dim(xs, -1),
            "out_h": _dim(os_, -3), "out_w": _dim(os_, -2), "out_c": _dim(os_, -1),
            "k_h": ws[1] if len(ws) == 4 else 1, "k_w": ws[2] if len(ws) == 4 else 1,
            "row": ws[2] * ws[3] if len(ws) == 4 else (ws[-1] if ws else 1),
            "stride": int(stride[0]) if isinstance(stride, (tuple, list)) else 1,
            "log_macs": math.log2(max(macs, 1)), "log_out": math.log2(max(out.size, 1))}


def _dim(shape: list, i: int) -> int:
    return int(shape[i]) if len(shape) >= -i else 1
