"""Write an IR graph (float or int8) to a .tflite flatbuffer: the inverse of microc/frontends/tflite.py.

Used by the quantizer: calibration runs the float graph on TFLite Micro with every activation marked
as a graph output, and the int8 graph it produces is written here so TFLite Micro is the reference
of everything downstream. Explicit pads are turned back into SAME/VALID; pads neither can express
(ONNX's symmetric pads on a stride-2 conv, say) become a PAD op before the conv or a PADV2 of the
lowest value before a max pool; on an average pool they are refused (TFLite averages over the
unpadded cells of SAME windows only).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from microc.errors import MicrocError
from microc.export.flatbuffer import DTYPES, OPTIONS, ModelWriter
from microc.export.variables import VARIABLE_OPS, is_resource, write_variable_op
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
        if not is_resource(t):
            index[id(t)] = _write_tensor(writer, t)
    names: dict[int, str] = {}  # resource variables' shared names
    for op in graph.ops:
        if op.type in VARIABLE_OPS:
            write_variable_op(writer, op, index, names, _write_tensor)
            continue
        if op.type.startswith("CUSTOM("):
            _write_custom(writer, op, index)
            continue
        inputs = [index[id(t)] if t is not None else -1 for t in op.inputs]
        options = _options(op)
        if "padding" in options and options["padding"] is None:  # pads SAME/VALID cannot express
            inputs[0] = _explicit_pad(writer, op, inputs[0])
            options["padding"] = "VALID"
        writer.op(op.type, inputs, [index[id(t)] for t in op.outputs], **options)
    writer.inputs([index[id(t)] for t in graph.inputs])
    outputs = [index[id(t)] for t in graph.outputs]
    for t in extra_outputs or []:
        if index[id(t)] not in outputs:
            outputs.append(index[id(t)])
    writer.outputs(outputs)
    return writer.build()


def _write_custom(writer: ModelWriter, op: Op, index: dict[int, int]) -> None:
    """A custom operator with its flexbuffer options; the state the frontend gave it as a variable input
    (microc/frontends/tflite.py _CUSTOM_STATE) is TFLM's kernel's own again."""
    if "custom_options" in op.attrs:
        raise ExportError(f"{op.type} {op.name!r}: its custom options are not a flexbuffer map")
    inputs = [index[id(t)] if t is not None else -1 for t in op.inputs if t is None or not t.variable]
    writer.custom(op.type[len("CUSTOM("):-1], inputs, [index[id(t)] for t in op.outputs], **op.attrs)


def write_tflite(graph: Graph, path: str | Path) -> None:
    Path(path).write_bytes(export_tflite(graph))


def _write_tensor(writer: ModelWriter, t: Tensor) -> int:
    if t.dtype not in DTYPES:
        raise ExportError(f"tensor {t.name!r}: dtype {t.dtype} cannot be written to .tflite")
    qargs = _quant_args(t.quant)
    if t.is_const:
        return writer.const(t.name, np.asarray(t.data).reshape(t.shape), t.dtype, **qargs)
    return writer.tensor(t.name, t.shape, t.dtype, **qargs, variable=t.variable)


# Builtins without an options table; any other op outside OPTIONS would lose its options.
_NO_OPTIONS = {"RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "SQRT", "RSQRT", "LOG"}


def _quant_args(q) -> dict:
    return {} if q is None else dict(scale=np.asarray(q.scale, np.float32), zero_point=q.zero_point,
                                     axis=q.axis or 0)


def _explicit_pad(writer: ModelWriter, op: Op, x_index: int) -> int:
    """A PAD (PADV2 with the lowest value before MAX_POOL_2D) writing the op's pads around its input,
    which the op then reads with VALID padding; returns the padded tensor's index."""
    x = op.inputs[0]
    top, left, bottom, right = op.attrs["pads"]
    n, h, w, c = x.shape
    padded = writer.tensor(f"{op.name}/padded", (n, h + top + bottom, w + left + right, c), x.dtype,
                           **_quant_args(x.quant))
    paddings = writer.const(f"{op.name}/paddings", np.array([[0, 0], [top, bottom], [left, right], [0, 0]],
                                                          np.int32))
    if op.type == "MAX_POOL_2D":
        lowest = np.array([np.finfo(np.float32).min if x.dtype == "float32" else np.iinfo(x.dtype).min],
                          x.dtype)
        fill = writer.const(f"{op.name}/pad_value", lowest, **_quant_args(x.quant))
        writer.op("PADV2", [x_index, paddings, fill], [padded])
    else:  # zeros: for int8 the kernel pads with the zero point, which is real 0
        writer.op("PAD", [x_index, paddings], [padded])
    return padded


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
    if t in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN"):
        return dict(keep_dims=bool(a.get("keep_dims", False)))
    if t in ("SPLIT", "SPLIT_V"):
        return dict(num_splits=len(op.outputs))
    if t == "GATHER":
        return dict(axis=int(a.get("axis", 0)), batch_dims=int(a.get("batch_dims", 0)))
    if t in ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"):
        return dict(align_corners=bool(a.get("align_corners", False)),
                    half_pixel_centers=bool(a.get("half_pixel_centers", False)))
    if t == "BATCH_MATMUL":
        return dict(adj_x=bool(a.get("adj_x", False)), adj_y=bool(a.get("adj_y", False)))
    if t == "CAST":
        return dict(in_type=op.inputs[0].dtype, out_type=op.outputs[0].dtype)
    if t == "SVDF":
        return dict(act, rank=int(a["rank"]))
    if t == "UNIDIRECTIONAL_SEQUENCE_LSTM":
        if a.get("reset_state"):  # TFLite has no such flag: its LSTM would carry the state over
            raise ExportError(f"{t} {op.name!r}: an LSTM that resets its state per invocation (from ONNX) "
                              "cannot be written to .tflite")
        return dict(act, cell_clip=float(a.get("cell_clip", 0.0)), proj_clip=float(a.get("proj_clip", 0.0)),
                    time_major=bool(a.get("time_major", False)))
    return {}


def _padding(op: Op) -> str:
    """SAME or VALID, whichever gives the op's explicit pads and output size with TFLite's arithmetic
    (the attribute the frontend kept is tried first: both can fit, e.g. a 1x1 filter); None when
    neither does and an explicit PAD must go before the op (not for AVERAGE_POOL_2D)."""
    pads = tuple(op.attrs.get("pads", (0, 0, 0, 0)))
    candidates = ["SAME", "VALID"]
    if op.attrs.get("padding") == "VALID":
        candidates.reverse()
    out_hw = tuple(op.outputs[0].shape[1:3])
    for padding in candidates:
        if _pads_and_size(op, padding) == (pads, out_hw):
            return padding
    if op.type == "AVERAGE_POOL_2D":  # TFLite averages over the unpadded cells of SAME windows only
        raise ExportError(f"{op.type} {op.name!r}: pads {pads} are neither SAME nor VALID and cannot be "
                          "written to .tflite")
    top, left, bottom, right = pads
    _, (h, w) = _pads_and_size(op, "VALID", (top + bottom, left + right))
    if (h, w) != out_hw:
        raise ExportError(f"{op.type} {op.name!r}: pads {pads} do not give the output size {out_hw}")
    return None  # an explicit PAD before the op


def _pads_and_size(op: Op, padding: str, grow=(0, 0)):
    """TFLite's (top, left, bottom, right) pads and output (h, w) for SAME or VALID (on the input
    grown by `grow` rows and columns)."""
    _, in_h, in_w, _ = op.inputs[0].shape
    in_h, in_w = in_h + grow[0], in_w + grow[1]
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
