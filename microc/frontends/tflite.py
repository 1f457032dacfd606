"""Read a .tflite flatbuffer into the IR.

Options are turned into plain attributes here, and SAME/VALID padding into explicit pads with TFLite's
own arithmetic (ComputePaddingHeightWidth), so nothing downstream knows the file format.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import tflite
from flatbuffers import flexbuffers
from tflite.BuiltinOperator import BuiltinOperator

from microc.errors import ModelFormatError
from microc.frontends.malformed import malformed_file
from microc.frontends.tflite_variables import lower_variables
from microc.ir import Graph, Op, Quant, Tensor

_OP_NAMES = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8",
           12: "uint64", 15: "uint32"}
_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
_PADDING = {0: "SAME", 1: "VALID"}

# Builtin op name -> (options class, parser of that options table into attributes).
_OPTIONS = {
    "CONV_2D": (tflite.Conv2DOptions, lambda o: dict(
        padding=_PADDING[o.Padding()], stride=(o.StrideH(), o.StrideW()),
        dilation=(o.DilationHFactor(), o.DilationWFactor()),
        activation=_ACTIVATIONS[o.FusedActivationFunction()])),
    "DEPTHWISE_CONV_2D": (tflite.DepthwiseConv2DOptions, lambda o: dict(
        padding=_PADDING[o.Padding()], stride=(o.StrideH(), o.StrideW()),
        dilation=(o.DilationHFactor(), o.DilationWFactor()), depth_multiplier=o.DepthMultiplier(),
        activation=_ACTIVATIONS[o.FusedActivationFunction()])),
    "FULLY_CONNECTED": (tflite.FullyConnectedOptions, lambda o: dict(
        activation=_ACTIVATIONS[o.FusedActivationFunction()], weights_format=o.WeightsFormat(),
        keep_num_dims=bool(o.KeepNumDims()))),
    "AVERAGE_POOL_2D": (tflite.Pool2DOptions, lambda o: _pool_attrs(o)),
    "MAX_POOL_2D": (tflite.Pool2DOptions, lambda o: _pool_attrs(o)),
    "ADD": (tflite.AddOptions, lambda o: dict(activation=_ACTIVATIONS[o.FusedActivationFunction()])),
    "SUB": (tflite.SubOptions, lambda o: dict(activation=_ACTIVATIONS[o.FusedActivationFunction()])),
    "MUL": (tflite.MulOptions, lambda o: dict(activation=_ACTIVATIONS[o.FusedActivationFunction()])),
    "SOFTMAX": (tflite.SoftmaxOptions, lambda o: dict(beta=float(o.Beta()))),
    "LEAKY_RELU": (tflite.LeakyReluOptions, lambda o: dict(alpha=float(o.Alpha()))),
    "CONCATENATION": (tflite.ConcatenationOptions, lambda o: dict(
        axis=o.Axis(), activation=_ACTIVATIONS[o.FusedActivationFunction()])),
    "MEAN": (tflite.ReducerOptions, lambda o: dict(keep_dims=bool(o.KeepDims()))),
    "DIV": (tflite.DivOptions, lambda o: dict(activation=_ACTIVATIONS[o.FusedActivationFunction()])),
    "STRIDED_SLICE": (tflite.StridedSliceOptions, lambda o: dict(
        begin_mask=o.BeginMask(), end_mask=o.EndMask(), ellipsis_mask=o.EllipsisMask(),
        new_axis_mask=o.NewAxisMask(), shrink_axis_mask=o.ShrinkAxisMask(), offset=bool(o.Offset()))),
    "GATHER": (tflite.GatherOptions, lambda o: dict(axis=o.Axis(), batch_dims=o.BatchDims())),
    "SUM": (tflite.ReducerOptions, lambda o: dict(keep_dims=bool(o.KeepDims()))),
    "REDUCE_MAX": (tflite.ReducerOptions, lambda o: dict(keep_dims=bool(o.KeepDims()))),
    "REDUCE_MIN": (tflite.ReducerOptions, lambda o: dict(keep_dims=bool(o.KeepDims()))),
    "RESIZE_BILINEAR": (tflite.ResizeBilinearOptions, lambda o: dict(
        align_corners=bool(o.AlignCorners()), half_pixel_centers=bool(o.HalfPixelCenters()))),
    "RESIZE_NEAREST_NEIGHBOR": (tflite.ResizeNearestNeighborOptions, lambda o: dict(
        align_corners=bool(o.AlignCorners()), half_pixel_centers=bool(o.HalfPixelCenters()))),
    "SVDF": (tflite.SVDFOptions, lambda o: dict(
        rank=o.Rank(), activation=_ACTIVATIONS[o.FusedActivationFunction()],
        asymmetric_quantize_inputs=bool(o.AsymmetricQuantizeInputs()))),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": (tflite.UnidirectionalSequenceLSTMOptions, lambda o: dict(
        activation=_ACTIVATIONS[o.FusedActivationFunction()], cell_clip=float(o.CellClip()),
        proj_clip=float(o.ProjClip()), time_major=bool(o.TimeMajor()),
        asymmetric_quantize_inputs=bool(o.AsymmetricQuantizeInputs()),
        diagonal_recurrent_tensors=bool(o.DiagonalRecurrentTensors()))),
    "TRANSPOSE_CONV": (tflite.TransposeConvOptions, lambda o: dict(
        padding=_PADDING[o.Padding()], stride=(o.StrideH(), o.StrideW()),
        activation=_ACTIVATIONS[o.FusedActivationFunction()])),
    "BATCH_MATMUL": (tflite.BatchMatMulOptions, lambda o: dict(
        adj_x=bool(o.AdjX()), adj_y=bool(o.AdjY()), asymmetric_quantize_inputs=bool(o.AsymmetricQuantizeInputs()))),
    "VAR_HANDLE": (tflite.VarHandleOptions, lambda o: dict(
        container=o.Container().decode("utf-8", "replace") if o.Container() is not None else None,
        shared_name=(o.SharedName() or b"").decode("utf-8", "replace"))),
    "CALL_ONCE": (tflite.CallOnceOptions, lambda o: dict(init_subgraph_index=o.InitSubgraphIndex())),
    "SQUEEZE": (tflite.SqueezeOptions, lambda o: dict(squeeze_dims=list(o.SqueezeDimsAsNumpy())
                                                      if o.SqueezeDimsLength() else [])),
}


# Custom operators whose TFLM kernel keeps state between invokes in a buffer of its own (zeroed by
# Prepare and by a reset): the IR gives them that state as one more input, a variable tensor, which the
# planner keeps in the persistent region. (op type -> (attributes, inputs) -> the state's shape and dtype)
_CUSTOM_STATE = {
    "CUSTOM(SignalFilterBankSpectralSubtraction)": lambda a, ins: ((a.get("num_channels"),), "uint32"),
    # the last delay_length samples of each row of the innermost dimension
    "CUSTOM(SignalDelay)": lambda a, ins: ((_rows(ins), a.get("delay_length")), "int16"),
    # per row of the innermost dimension, a count and a buffer of whole steps holding a frame
    "CUSTOM(SignalFramer)": lambda a, ins: ((_rows(ins), framer_capacity(a) + 1), "int16"),
    # the held count, the first-frame flag and left + 1 + right frames of num_channels samples
    "CUSTOM(SignalStacker)": lambda a, ins: ((_stacked(a) + 2,), "int16"),
    # a frame's worth of partial sums per row of frames
    "CUSTOM(SignalOverlapAdd)": lambda a, ins: ((_rows(ins, 2), ins[0].shape[-1] if _rows(ins, 2) else None),
                                               ins[0].dtype if _rows(ins, 2) else "int16"),
}


def _rows(inputs: list, inner: int = 1) -> int | None:
    """The rows of the first input's `inner` innermost dimensions (None where it has not that many)."""
    x = inputs[0] if inputs else None
    if x is None or len(x.shape) < inner or any(d <= 0 for d in x.shape[-inner:]):
        return None
    return x.size // int(np.prod(x.shape[-inner:], dtype=np.int64))


def _stacked(attrs: dict) -> int | None:
    """SignalStacker's output size: num_channels x (left + 1 + right context)."""
    keys = ("num_channels", "stacker_left_context", "stacker_right_context")
    if not all(isinstance(attrs.get(k), int) and not isinstance(attrs.get(k), bool) and 0 <= attrs[k] < 2**12
               for k in keys):
        return None
    return attrs["num_channels"] * (attrs["stacker_left_context"] + 1 + attrs["stacker_right_context"])


def framer_capacity(attrs: dict) -> int | None:
    """TFLM's SignalFramer buffer: frame_size rounded up to whole frame_steps."""
    size, step = attrs.get("frame_size"), attrs.get("frame_step")
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**14 for v in (size, step)):
        return None
    return -(-size // step) * step


def _pool_attrs(o) -> dict:
    return dict(padding=_PADDING[o.Padding()], stride=(o.StrideH(), o.StrideW()),
                filter=(o.FilterHeight(), o.FilterWidth()),
                activation=_ACTIVATIONS[o.FusedActivationFunction()])


def load_tflite(path: str | Path) -> Graph:
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as e:
        raise ModelFormatError(f"cannot read {path}: {e.strerror}") from None
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelFormatError(f"{path.name} is not a TFLite model (no TFL3 file identifier)")
    with malformed_file(path.name):
        return _build_graph(buf, path.stem)


def _build_graph(buf: bytes, name: str) -> Graph:
    model = tflite.Model.GetRootAs(buf, 0)
    if model.SubgraphsLength() < 1:
        raise ModelFormatError(f"{name}.tflite has no subgraph")
    sg = model.Subgraphs(0)
    tensors, ops = _read_subgraph(model, sg)
    # resource variables (VAR_HANDLE, CALL_ONCE's init subgraph) become variable tensors
    ops = lower_variables(ops, lambda k: _read_subgraph(model, model.Subgraphs(k))[1], model.SubgraphsLength())
    for op in ops:
        _resolve_padding(op)
    return Graph(
        name=name,
        ops=ops,
        inputs=[tensors[i] for i in sg.InputsAsNumpy()],
        outputs=[tensors[i] for i in sg.OutputsAsNumpy()],
        source_hash=hashlib.sha256(buf).hexdigest(),
    )


def _read_subgraph(model, sg) -> tuple[list[Tensor], list[Op]]:
    tensors = [_read_tensor(model, sg.Tensors(i)) for i in range(sg.TensorsLength())]
    return tensors, [_read_op(model, sg.Operators(i), i, tensors) for i in range(sg.OperatorsLength())]


def _read_tensor(model, t) -> Tensor:
    dtype = _DTYPES.get(t.Type(), f"type{t.Type()}")
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    name = (t.Name() or b"").decode("utf-8", "replace")
    data = None
    buffer = model.Buffers(t.Buffer())
    variable = bool(t.IsVariable())
    # TFLM resets a variable to its zero point before the first invoke, whatever its buffer holds.
    if not variable and buffer is not None and buffer.DataLength() > 0:
        raw = buffer.DataAsNumpy().tobytes()
        data = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape).copy()
    return Tensor(name=name, shape=shape, dtype=dtype, quant=_read_quant(t.Quantization()), data=data,
                  variable=variable)


def _read_quant(q) -> Quant | None:
    if q is None or q.ScaleLength() == 0:
        return None
    scale = q.ScaleAsNumpy().astype(np.float64)
    zp = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros_like(scale, np.int64)
    return Quant(scale=scale, zero_point=zp, axis=q.QuantizedDimension() if scale.size > 1 else None)


def _op_name(model, op) -> str:
    code = model.OperatorCodes(op.OpcodeIndex())
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    name = _OP_NAMES.get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM":
        name = f"CUSTOM({(code.CustomCode() or b'').decode()})"
    return name


def _read_op(model, op, index: int, tensors: list[Tensor]) -> Op:
    op_type = _op_name(model, op)
    attrs = {}
    if op_type in _OPTIONS and op.BuiltinOptions() is not None:
        cls, parse = _OPTIONS[op_type]
        table = op.BuiltinOptions()
        options = cls()
        options.Init(table.Bytes, table.Pos)
        attrs = parse(options)
    elif op_type.startswith("CUSTOM(") and op.CustomOptionsLength():
        attrs = _custom_options(op.CustomOptionsAsNumpy().tobytes())
    inputs = [tensors[i] if i >= 0 else None for i in op.InputsAsNumpy()] if op.InputsLength() else []
    outputs = [tensors[i] for i in op.OutputsAsNumpy()]
    name = outputs[0].name if outputs else f"op{index}"
    if op_type in _CUSTOM_STATE:
        shape, dtype = _CUSTOM_STATE[op_type](attrs, inputs)
        if all(isinstance(d, int) and not isinstance(d, bool) and 0 < d < 2**24 for d in shape):
            inputs.append(Tensor(name=f"{name}/state", shape=shape, dtype=dtype, variable=True))
    return Op(type=op_type, inputs=inputs, outputs=outputs, attrs=attrs, name=name, index=index)


def _custom_options(raw: bytes) -> dict:
    """A custom operator's options: a flexbuffer map (TFLM's signal operators write theirs so)."""
    try:
        root = flexbuffers.Loads(raw)
    except AssertionError:  # the flexbuffers reader asserts on some corrupt type bytes
        raise ValueError("custom options are not a valid flexbuffer") from None
    return dict(root) if isinstance(root, dict) else {"custom_options": root}


def _resolve_padding(op: Op) -> None:
    """Replace SAME/VALID with explicit (top, left, bottom, right) pads, as TFLite computes them."""
    if op.type == "TRANSPOSE_CONV":
        _resolve_transpose_padding(op)
        return
    conv = op.type in ("CONV_2D", "DEPTHWISE_CONV_2D")
    shaped = op.inputs[:2 if conv else 1] + op.outputs[:1]
    if "padding" not in op.attrs or len(shaped) != (3 if conv else 2) or \
            any(t is None or len(t.shape) != 4 for t in shaped):
        return  # the validation pass names what is missing or of the wrong rank
    n, in_h, in_w, _ = op.inputs[0].shape
    if conv:
        f_h, f_w = op.inputs[1].shape[1:3]
    else:
        f_h, f_w = op.attrs["filter"]
    s_h, s_w = op.attrs["stride"]
    d_h, d_w = op.attrs.get("dilation", (1, 1))
    out_h, out_w = op.outputs[0].shape[1:3]
    if op.attrs["padding"] == "VALID":
        op.attrs["pads"] = (0, 0, 0, 0)
        return
    tot_h = max((out_h - 1) * s_h + (f_h - 1) * d_h + 1 - in_h, 0)
    tot_w = max((out_w - 1) * s_w + (f_w - 1) * d_w + 1 - in_w, 0)
    op.attrs["pads"] = (tot_h // 2, tot_w // 2, tot_h - tot_h // 2, tot_w - tot_w // 2)


def _resolve_transpose_padding(op: Op) -> None:
    """TRANSPOSE_CONV's pads: TFLM runs ComputePaddingHeightWidth with the output as the "input" (the
    convolution this one transposes) and uses only the leading pads (top, left)."""
    if "padding" not in op.attrs or len(op.inputs) < 3 or op.inputs[1] is None or not op.outputs or \
            len(op.inputs[1].shape) != 4 or len(op.outputs[0].shape) != 4:
        return  # the validation pass names what is missing or of the wrong rank
    pads = []
    for n, k, s in zip(op.outputs[0].shape[1:3], op.inputs[1].shape[1:3], op.attrs["stride"]):
        if s < 1:
            return
        out = (n + s - 1) // s if op.attrs["padding"] == "SAME" else (n + s - k) // s
        total = max((out - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    op.attrs["pads"] = (pads[0][0], pads[1][0], pads[0][1], pads[1][1])
