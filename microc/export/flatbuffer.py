"""A .tflite flatbuffer writer: tensors, constants and builtin operators of one or more subgraphs.

The low-level half of the exporter (microc/export/tflite.py turns an IR graph into calls on it);
tests use it directly through tests/tflite_builder.py to write small models.
"""
from __future__ import annotations

import flatbuffers
from flatbuffers import flexbuffers
import numpy as np
import tflite

DTYPES = {  # name -> (tflite TensorType, numpy dtype)
    "float32": (tflite.TensorType.FLOAT32, np.float32),
    "int8": (tflite.TensorType.INT8, np.int8),
    "uint8": (tflite.TensorType.UINT8, np.uint8),
    "int16": (tflite.TensorType.INT16, np.int16),
    "int32": (tflite.TensorType.INT32, np.int32),
    "int64": (tflite.TensorType.INT64, np.int64),
    "bool": (tflite.TensorType.BOOL, np.bool_),
    "uint32": (tflite.TensorType.UINT32, np.uint32),
    "uint64": (tflite.TensorType.UINT64, np.uint64),
    # a resource variable's handle (VAR_HANDLE's output): no data, read only by the variable operators
    "resource": (tflite.TensorType.RESOURCE, np.int32),
}

# Constant data is aligned like the TFLite converter does, so kernels may read it in place.
_BUFFER_ALIGN = 16


# ---- builtin options: op name -> (options table, function mapping keywords to table fields) ----


def _padding(p: str) -> int:
    return getattr(tflite.Padding, p.upper())


def _act(a: str | None) -> int:
    return getattr(tflite.ActivationFunctionType, (a or "NONE").upper())


def _conv(padding="SAME", stride=(1, 1), dilation=(1, 1), activation="NONE"):
    return dict(Padding=_padding(padding), StrideH=stride[0], StrideW=stride[1],
                DilationHFactor=dilation[0], DilationWFactor=dilation[1],
                FusedActivationFunction=_act(activation))


def _depthwise(padding="SAME", stride=(1, 1), dilation=(1, 1), depth_multiplier=1,
               activation="NONE"):
    return dict(_conv(padding, stride, dilation, activation), DepthMultiplier=depth_multiplier)


def _fully_connected(activation="NONE", keep_num_dims=False):
    return dict(FusedActivationFunction=_act(activation), KeepNumDims=keep_num_dims)


def _pool(filter_size, padding="VALID", stride=(1, 1), activation="NONE"):
    return dict(Padding=_padding(padding), StrideH=stride[0], StrideW=stride[1],
                FilterHeight=filter_size[0], FilterWidth=filter_size[1],
                FusedActivationFunction=_act(activation))


def _activation_only(activation="NONE"):
    return dict(FusedActivationFunction=_act(activation))


def _concat(axis, activation="NONE"):
    return dict(Axis=axis, FusedActivationFunction=_act(activation))


def _strided_slice(begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0,
                   offset=False):
    return dict(BeginMask=begin_mask, EndMask=end_mask, EllipsisMask=ellipsis_mask,
                NewAxisMask=new_axis_mask, ShrinkAxisMask=shrink_axis_mask, Offset=offset)


def _lstm(activation="TANH", cell_clip=0.0, proj_clip=0.0, time_major=False):
    return dict(FusedActivationFunction=_act(activation), CellClip=cell_clip, ProjClip=proj_clip,
                TimeMajor=time_major)


def _no_options():
    return {}


OPTIONS = {
    "CONV_2D": ("Conv2DOptions", _conv),
    "DEPTHWISE_CONV_2D": ("DepthwiseConv2DOptions", _depthwise),
    "FULLY_CONNECTED": ("FullyConnectedOptions", _fully_connected),
    "AVERAGE_POOL_2D": ("Pool2DOptions", _pool),
    "MAX_POOL_2D": ("Pool2DOptions", _pool),
    "ADD": ("AddOptions", _activation_only),
    "SUB": ("SubOptions", _activation_only),
    "MUL": ("MulOptions", _activation_only),
    "CONCATENATION": ("ConcatenationOptions", _concat),
    # list values become int32 vectors
    "RESHAPE": ("ReshapeOptions", lambda new_shape: dict(NewShape=list(new_shape))),
    "SQUEEZE": ("SqueezeOptions", lambda squeeze_dims=(): dict(SqueezeDims=list(squeeze_dims))),
    "SOFTMAX": ("SoftmaxOptions", lambda beta=1.0: dict(Beta=beta)),
    "LEAKY_RELU": ("LeakyReluOptions", lambda alpha=0.2: dict(Alpha=alpha)),
    "MEAN": ("ReducerOptions", lambda keep_dims=False: dict(KeepDims=keep_dims)),
    # empty tables, written because the converter writes them
    "HARD_SWISH": ("HardSwishOptions", _no_options),
    "PAD": ("PadOptions", _no_options),
    "QUANTIZE": ("QuantizeOptions", _no_options),
    "DEQUANTIZE": ("DequantizeOptions", _no_options),
    "PADV2": ("PadV2Options", _no_options),
    "TRANSPOSE": ("TransposeOptions", _no_options),
    "STRIDED_SLICE": ("StridedSliceOptions", _strided_slice),
    "SPLIT": ("SplitOptions", lambda num_splits: dict(NumSplits=num_splits)),
    "SPLIT_V": ("SplitVOptions", lambda num_splits: dict(NumSplits=num_splits)),
    "DIV": ("DivOptions", _activation_only),
    "MAXIMUM": ("MaximumMinimumOptions", _no_options),
    "MINIMUM": ("MaximumMinimumOptions", _no_options),
    "SQUARED_DIFFERENCE": ("SquaredDifferenceOptions", _no_options),
    "EXP": ("ExpOptions", _no_options),
    "GATHER": ("GatherOptions", lambda axis=0, batch_dims=0: dict(Axis=axis, BatchDims=batch_dims)),
    "CAST": ("CastOptions", lambda in_type, out_type: dict(InDataType=DTYPES[in_type][0],
                                                           OutDataType=DTYPES[out_type][0])),
    "ARG_MAX": ("ArgMaxOptions", lambda output_type="int32": dict(OutputType=DTYPES[output_type][0])),
    "ARG_MIN": ("ArgMinOptions", lambda output_type="int32": dict(OutputType=DTYPES[output_type][0])),
    "SUM": ("ReducerOptions", lambda keep_dims=False: dict(KeepDims=keep_dims)),
    "REDUCE_MAX": ("ReducerOptions", lambda keep_dims=False: dict(KeepDims=keep_dims)),
    "REDUCE_MIN": ("ReducerOptions", lambda keep_dims=False: dict(KeepDims=keep_dims)),
    "RESIZE_BILINEAR": ("ResizeBilinearOptions", lambda align_corners=False, half_pixel_centers=False: dict(
        AlignCorners=align_corners, HalfPixelCenters=half_pixel_centers)),
    "BATCH_MATMUL": ("BatchMatMulOptions", lambda adj_x=False, adj_y=False: dict(AdjX=adj_x, AdjY=adj_y)),
    "RESIZE_NEAREST_NEIGHBOR": ("ResizeNearestNeighborOptions",
                                lambda align_corners=False, half_pixel_centers=False: dict(
                                    AlignCorners=align_corners, HalfPixelCenters=half_pixel_centers)),
    "SVDF": ("SVDFOptions", lambda rank, activation="NONE": dict(Rank=rank,
                                                                 FusedActivationFunction=_act(activation))),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": ("UnidirectionalSequenceLSTMOptions", _lstm),
    # resource variables (docs/recurrent.md): strings are written as flatbuffer strings
    "VAR_HANDLE": ("VarHandleOptions", lambda shared_name, container=None: dict(
        SharedName=shared_name, **({"Container": container} if container is not None else {}))),
    "READ_VARIABLE": ("ReadVariableOptions", _no_options),
    "ASSIGN_VARIABLE": ("AssignVariableOptions", _no_options),
    "CALL_ONCE": ("CallOnceOptions", lambda init_subgraph_index: dict(InitSubgraphIndex=init_subgraph_index)),
    "TRANSPOSE_CONV": ("TransposeConvOptions", lambda padding="SAME", stride=(1, 1), activation="NONE": dict(
        Padding=_padding(padding), StrideH=stride[0], StrideW=stride[1], FusedActivationFunction=_act(activation))),
}
# Not in OPTIONS (no options table): RELU, RELU6, LOGISTIC, TANH and any other option-less op.


class _Subgraph:
    def __init__(self, name: str):
        self.name = name
        self.tensors: list[dict] = []
        self.ops: list[tuple[int, list[int], list[int], str | None, dict]] = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []


class ModelWriter:
    """Collects tensors, constants and operators of subgraph 0 (the model), or of the subgraph
    `select()` chose (e.g. CALL_ONCE's init subgraph, made by `add_subgraph()`); `build()` returns
    .tflite bytes. Buffers and operator codes are the model's, shared by every subgraph.

    Tensor-creating methods return the tensor's index in the current subgraph, which `op`, `inputs`
    and `outputs` take.
    """

    def __init__(self, description: str = "microc test model"):
        self.description = description
        self._buffers: list[bytes] = [b""]  # buffer 0 is the empty buffer TFLite requires
        self._opcodes: list[int | str] = []  # builtin codes or custom names, index = opcode_index
        self._subgraphs = [_Subgraph("main")]
        self._current = 0

    @property
    def _sg(self) -> _Subgraph:
        return self._subgraphs[self._current]

    @property
    def _tensors(self) -> list[dict]:
        """The current subgraph's tensors (tests read their shapes and quantization)."""
        return self._sg.tensors

    def add_subgraph(self, name: str) -> int:
        """A new empty subgraph, selected; returns its index (CALL_ONCE's init_subgraph_index)."""
        self._subgraphs.append(_Subgraph(name))
        self._current = len(self._subgraphs) - 1
        return self._current

    def select(self, index: int) -> None:
        """Add the next tensors and operators to subgraph `index` (0: the model)."""
        self._current = index

    # -- graph --

    def tensor(self, name: str, shape, dtype: str, scale=None, zero_point=None, axis: int = 0,
               buffer: int = 0, variable: bool = False) -> int:
        """An activation tensor. Quantized when `scale` is given (scalar, or array per channel).
        `variable`: a state tensor kept between invokes (SVDF's, LSTM's)."""
        if dtype not in DTYPES:
            raise ValueError(f"tensor {name!r}: unsupported dtype {dtype!r}")
        if any(int(d) < 0 for d in shape):  # TFLM plans memory statically; a -1 crashes it
            raise ValueError(f"tensor {name!r}: shape {tuple(shape)} is not static")
        quant = None
        if scale is not None:
            scales = np.atleast_1d(np.asarray(scale, dtype=np.float32))
            zps = np.zeros(scales.size, np.int64) if zero_point is None else \
                np.atleast_1d(np.asarray(zero_point, dtype=np.int64))
            if zps.size == 1 and scales.size > 1:
                zps = np.repeat(zps, scales.size)
            if zps.size != scales.size:
                raise ValueError(f"tensor {name!r}: {scales.size} scales, {zps.size} zero points")
            quant = (scales, zps, axis)
        self._sg.tensors.append(dict(name=name, shape=[int(d) for d in shape], dtype=dtype,
                                     buffer=buffer, quant=quant, variable=variable))
        return len(self._sg.tensors) - 1

    def const(self, name: str, data, dtype: str | None = None, scale=None, zero_point=None,
              axis: int = 0) -> int:
        """A constant tensor holding `data`. Its dtype comes from the ndarray unless `dtype` is
        given; plain lists need `dtype` (numpy would silently pick int64/float64)."""
        if dtype is None:
            if not isinstance(data, np.ndarray):
                raise ValueError(f"const {name!r}: give dtype= for non-ndarray data")
            dtype = data.dtype.name
        if dtype not in DTYPES:
            raise ValueError(f"const {name!r}: unsupported dtype {dtype!r}")
        arr = np.asarray(data, dtype=DTYPES[dtype][1])
        self._buffers.append(arr.astype(arr.dtype.newbyteorder("<")).tobytes(order="C"))
        return self.tensor(name, arr.shape, dtype, scale, zero_point, axis,
                           buffer=len(self._buffers) - 1)

    def op(self, name: str, inputs, outputs, **options) -> None:
        """Append builtin operator `name` (e.g. "CONV_2D"); `options` as in `OPTIONS`."""
        code = getattr(tflite.BuiltinOperator, name, None)
        if code is None:
            raise ValueError(f"unknown builtin operator {name!r}")
        table, fields = None, {}
        if name in OPTIONS:
            table, make_fields = OPTIONS[name]
            fields = make_fields(**options)
        elif options:
            raise TypeError(f"{name} takes no options, got {sorted(options)}")
        if code not in self._opcodes:
            self._opcodes.append(code)
        self._sg.ops.append((self._opcodes.index(code), list(inputs), list(outputs), table, fields))

    def custom(self, name: str, inputs, outputs, **options) -> None:
        """Append custom operator `name` (e.g. "SignalWindow"), its options a flexbuffer map as TFLM's
        signal operators read them."""
        if name not in self._opcodes:
            self._opcodes.append(name)
        raw = bytes(flexbuffers.Dumps(options)) if options else b""
        self._sg.ops.append((self._opcodes.index(name), list(inputs), list(outputs), None, raw))

    def inputs(self, ids) -> None:
        self._sg.inputs = list(ids)

    def outputs(self, ids) -> None:
        self._sg.outputs = list(ids)

    # -- serialization (flatbuffers are built bottom-up: children before the table using them) --

    def build(self) -> bytes:
        b = flatbuffers.Builder(1024)
        buffers = [_write_buffer(b, data) for data in self._buffers]
        subgraphs = [_write_subgraph(b, sg) for sg in self._subgraphs]
        opcodes = [_write_opcode(b, code) for code in self._opcodes]

        subgraphs_vec = _table_vector(b, tflite.ModelStartSubgraphsVector, subgraphs)
        opcodes_vec = _table_vector(b, tflite.ModelStartOperatorCodesVector, opcodes)
        buffers_vec = _table_vector(b, tflite.ModelStartBuffersVector, buffers)
        description = b.CreateString(self.description)
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, opcodes_vec)
        tflite.ModelAddSubgraphs(b, subgraphs_vec)
        tflite.ModelAddDescription(b, description)
        tflite.ModelAddBuffers(b, buffers_vec)
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def _write_subgraph(b, sg: _Subgraph) -> int:
    tensors = [_write_tensor(b, t) for t in sg.tensors]
    ops = [_write_op(b, *op) for op in sg.ops]
    tensors_vec = _table_vector(b, tflite.SubGraphStartTensorsVector, tensors)
    inputs_vec = _int32_vector(b, sg.inputs)
    outputs_vec = _int32_vector(b, sg.outputs)
    ops_vec = _table_vector(b, tflite.SubGraphStartOperatorsVector, ops)
    sg_name = b.CreateString(sg.name)
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensors_vec)
    tflite.SubGraphAddInputs(b, inputs_vec)
    tflite.SubGraphAddOutputs(b, outputs_vec)
    tflite.SubGraphAddOperators(b, ops_vec)
    tflite.SubGraphAddName(b, sg_name)
    return tflite.SubGraphEnd(b)


def _write_buffer(b, data: bytes) -> int:
    vec = _aligned_bytes(b, data) if data else None
    tflite.BufferStart(b)
    if vec is not None:
        tflite.BufferAddData(b, vec)
    return tflite.BufferEnd(b)


def _write_tensor(b, t: dict) -> int:
    name = b.CreateString(t["name"])
    shape = _int32_vector(b, t["shape"])
    quant = None
    if t["quant"] is not None:
        scales, zps, axis = t["quant"]
        scale_vec = b.CreateNumpyVector(scales.astype("<f4"))
        zp_vec = b.CreateNumpyVector(zps.astype("<i8"))
        tflite.QuantizationParametersStart(b)
        tflite.QuantizationParametersAddScale(b, scale_vec)
        tflite.QuantizationParametersAddZeroPoint(b, zp_vec)
        tflite.QuantizationParametersAddQuantizedDimension(b, axis)
        quant = tflite.QuantizationParametersEnd(b)
    tflite.TensorStart(b)
    tflite.TensorAddShape(b, shape)
    tflite.TensorAddType(b, DTYPES[t["dtype"]][0])
    tflite.TensorAddBuffer(b, t["buffer"])
    tflite.TensorAddName(b, name)
    if t.get("variable"):
        tflite.TensorAddIsVariable(b, True)
    if quant is not None:
        tflite.TensorAddQuantization(b, quant)
    return tflite.TensorEnd(b)


def _write_op(b, opcode_index, inputs, outputs, table, fields) -> int:
    inputs_vec = _int32_vector(b, inputs)
    outputs_vec = _int32_vector(b, outputs)
    options = _write_options(b, table, fields) if table else None
    custom = b.CreateNumpyVector(np.frombuffer(fields, np.uint8)) if isinstance(fields, bytes) and fields \
        else None
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, opcode_index)
    tflite.OperatorAddInputs(b, inputs_vec)
    tflite.OperatorAddOutputs(b, outputs_vec)
    if options is not None:
        tflite.OperatorAddBuiltinOptionsType(b, getattr(tflite.BuiltinOptions, table))
        tflite.OperatorAddBuiltinOptions(b, options)
    if custom is not None:
        tflite.OperatorAddCustomOptions(b, custom)
        tflite.OperatorAddCustomOptionsFormat(b, tflite.CustomOptionsFormat.FLEXBUFFERS)
    return tflite.OperatorEnd(b)


def _write_opcode(b, code: int | str) -> int:
    if isinstance(code, str):  # a custom operator
        name = b.CreateString(code)
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, tflite.BuiltinOperator.CUSTOM)
        tflite.OperatorCodeAddBuiltinCode(b, tflite.BuiltinOperator.CUSTOM)
        tflite.OperatorCodeAddCustomCode(b, name)
        tflite.OperatorCodeAddVersion(b, 1)
        return tflite.OperatorCodeEnd(b)
    tflite.OperatorCodeStart(b)
    # Codes above 127 live only in builtin_code; the int8 deprecated field saturates at 127
    # (PLACEHOLDER_FOR_GREATER_OP_CODES), which is how readers know to look at builtin_code.
    tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
    tflite.OperatorCodeAddBuiltinCode(b, code)
    tflite.OperatorCodeAddVersion(b, 1)
    return tflite.OperatorCodeEnd(b)


def _write_options(b, table: str, fields: dict) -> int:
    """Write an options table by calling tflite.<table>Add<Field> for each field; list values are
    written first as int32 vectors and str values as strings (flatbuffers forbids creating them inside
    an open table)."""
    values = {k: _int32_vector(b, v) if isinstance(v, list) else b.CreateString(v) if isinstance(v, str) else v
              for k, v in fields.items()}
    getattr(tflite, f"{table}Start")(b)
    for field, value in values.items():
        getattr(tflite, f"{table}Add{field}")(b, value)
    return getattr(tflite, f"{table}End")(b)


def _int32_vector(b, values) -> int:
    return b.CreateNumpyVector(np.asarray(values, dtype="<i4").reshape(-1))


def _table_vector(b, start_vector, offsets) -> int:
    start_vector(b, len(offsets))
    for off in reversed(offsets):  # flatbuffers are written back to front
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _aligned_bytes(b, data: bytes) -> int:
    # Same steps as Builder.CreateNumpyVector, but with 16-byte alignment instead of 1.
    b.StartVector(1, len(data), _BUFFER_ALIGN)
    b.head -= len(data)
    b.Bytes[b.head:b.head + len(data)] = data
    return b.EndVector()
