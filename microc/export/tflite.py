"""Write an IR graph (float or int8) to a .tflite flatbuffer: the inverse of microc/frontends/tflite.py.

Used by the quantizer: calibration runs the float graph on TFLite Micro with every activation marked
as a graph output, and the int8 graph it produces is written here so TFLite Micro is the reference
of everything downstream. Explicit pads are turned back into SAME/VALID; pads neither of them can
express are refused (the TFLite format has no explicit pads on CONV_2D or pools).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from microc.errors import MicrocError
from microc.export.flatbuffer import DTYPES, OPTIONS, ModelWriter
from microc.ir import Graph, Op, Tensor


class ExportError(MicrocError):
    pass


def export_tflite(graph: Graph, extra_outputs: list[Tensor] | None = None,
                  description: str = "microc") -> bytes:
    """The .tflite bytes of `graph`; `extra_outputs` (activations) become graph outputs too, after
    the graph's own, so a run returns their values (TFLite Micro keeps graph outputs alive)."""
    writer = ModelWriter(description)
    index: dict[int, int] = {}
    for t in graph.tensors():
        index[id(t)] = _write_tensor(writer, t)
    for op in graph.ops:
        inputs = [index[id(t)] if t is not None else -1 for t in op.inputs]
        writer.op(op.type, inputs, [index[id(t)] for t in op.outputs], **_options(op))
    writer.inputs([index[id(t)] for t in graph.inputs])
    outputs = [index[id(t)] for t in graph.outputs]
    for t in extra_outputs or []:
        if index[id(t)] not in outputs:
            outputs.append(index[id(t)])
    writer.outputs(outputs)
    return writer.build()


def write_tflite(graph: Graph, path: str | Path) -> None:
    Path(path).write_bytes(export_tflite(graph))


def _write_tensor(writer: ModelWriter, t: Tensor) -> int:
    if t.dtype not in DTYPES:
        raise ExportError(f"tensor {t.name!r}: dtype {t.dtype} cannot be written to .tflite")
    q = t.quant
    qargs = {} if q is None else dict(scale=np.asarray(q.scale, np.float32), zero_point=q.zero_point,
                                      axis=q.axis or 0)
    if t.is_const:
        return writer.const(t.name, np.asarray(t.data).reshape(t.shape), t.dtype, **qargs)
    return writer.tensor(t.name, t.shape, t.dtype, **qargs)


# Builtins without an options table; any other op outside OPTIONS would lose its options.
_NO_OPTIONS = {"RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH"}


def _options(op: Op) -> dict:
    """The writer's keyword options of `op`, from its IR attributes."""
    a, t = op.attrs, op.type
    if t in _NO_OPTIONS:
        return {}
    if t not in OPTIONS:
        raise ExportError(f"{t} {op.name!r}: microc cannot write this operator to .tflite")
    act = dict(activation=a.get("activation", "NONE"))
    if t in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        opts = dict(act, padding=_padding(op), stride=tuple(a.get("stride", (1, 1))),
                    dilation=tuple(a.get("dilation", (1, 1))))
        if t == "DEPTHWISE_CONV_2D":
            opts["depth_multiplier"] = a.get("depth_multiplier",
                                             op.outputs[0].shape[3] // op.inputs[0].shape[3])
        return opts
    if t in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        return dict(act, padding=_padding(op), stride=tuple(a["stride"]), filter_size=tuple(a["filter"]))
    if t == "FULLY_CONNECTED":
        return dict(act, keep_num_dims=bool(a.get("keep_num_dims", False)))
    if t in ("ADD", "SUB", "MUL"):
        return act
    if t == "CONCATENATION":
        return dict(act, axis=int(a["axis"]))
    if t == "RESHAPE":  # TFLM takes the shape from the output tensor; the options mirror it
        return dict(new_shape=list(op.outputs[0].shape))
    if t == "SQUEEZE":
        return dict(squeeze_dims=list(a.get("squeeze_dims", [])))
    if t == "SOFTMAX":
        return dict(beta=float(a.get("beta", 1.0)))
    if t == "LEAKY_RELU":
        return dict(alpha=float(a.get("alpha", 0.2)))
    if t == "MEAN":
        return dict(keep_dims=bool(a.get("keep_dims", False)))
    return {}


def _padding(op: Op) -> str:
    """SAME or VALID, whichever gives the op's explicit pads and output size with TFLite's arithmetic
    (the attribute the frontend kept is tried first: both can fit, e.g. a 1x1 filter)."""
    pads = tuple(op.attrs.get("pads", (0, 0, 0, 0)))
    candidates = ["SAME", "VALID"]
    if op.attrs.get("padding") == "VALID":
        candidates.reverse()
    for padding in candidates:
        if _pads_and_size(op, padding) == (pads, tuple(op.outputs[0].shape[1:3])):
            return padding
    raise ExportError(f"{op.type} {op.name!r}: pads {pads} are neither SAME nor VALID and cannot be "
                      "written to .tflite")


def _pads_and_size(op: Op, padding: str):
    """TFLite's (top, left, bottom, right) pads and output (h, w) for SAME or VALID."""
    _, in_h, in_w, _ = op.inputs[0].shape
    if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        f_h, f_w = op.inputs[1].shape[1:3]
    else:
        f_h, f_w = op.attrs["filter"]
    s_h, s_w = op.attrs.get("stride", (1, 1))
    d_h, d_w = op.attrs.get("dilation", (1, 1))
    eff_h, eff_w = (f_h - 1) * d_h + 1, (f_w - 1) * d_w + 1
    if padding == "VALID":
        return (0, 0, 0, 0), ((in_h - eff_h) // s_h + 1, (in_w - eff_w) // s_w + 1)
    out_h, out_w = -(-in_h // s_h), -(-in_w // s_w)
    tot_h = max((out_h - 1) * s_h + eff_h - in_h, 0)
    tot_w = max((out_w - 1) * s_w + eff_w - in_w, 0)
    return (tot_h // 2, tot_w // 2, tot_h - tot_h // 2, tot_w - tot_w // 2), (out_h, out_w)
