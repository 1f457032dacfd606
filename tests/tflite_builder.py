"""Write small .tflite models for tests, and run them on TFLM as the reference.

    b = ModelBuilder()
    x = b.tensor("x", (1, 8, 8, 3), "int8", scale=0.05, zero_point=-3)
    w = b.const("w", w_q, scale=w_scales, zero_point=0, axis=0)     # per-channel int8
    bias = b.const("bias", b_q, scale=w_scales * 0.05, axis=0)     # int32
    y = b.tensor("y", (1, 8, 8, 4), "int8", scale=0.1, zero_point=2)
    b.op("CONV_2D", [x, w, bias], [y], padding="SAME", stride=(1, 1), activation="RELU")
    b.inputs([x]); b.outputs([y])
    (out,) = run_tflm(b.build(), [x_q])

`b.op` keyword options per operator are listed in `_OPTIONS` (unknown keywords raise TypeError).
Optional inputs that are absent are written as -1 (e.g. FULLY_CONNECTED without bias).

Operator inputs (schema order):
  CONV_2D            input, filter [O,KH,KW,I], bias [O]      per-channel axis 0
  DEPTHWISE_CONV_2D  input, filter [1,KH,KW,I*M], bias [I*M]  per-channel axis 3
  FULLY_CONNECTED    input, weights [O,I], bias [O] or -1
  RESHAPE            input, shape int32 [rank]; also pass new_shape= (the converter writes both)
  PAD                input, paddings int32 const [rank, 2]
  MEAN               input, axis int32 const [k]
  ADD/SUB/MUL        two inputs (broadcasting allowed); CONCATENATION: 2..10 inputs

TFLM int8 rules (read in the kernels and tried on the installed tflite-micro; "checked" ones fail
in Prepare, "silent" ones are not checked and the result is just wrong if the model breaks them):
  - bias of int8 CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED is int32, zero point 0,
    scale = input_scale * weight_scale (per channel); weights symmetric, zero point 0.
  - SOFTMAX: output scale exactly 1/256, zero point -128 (checked).
  - LOGISTIC: output zero point -128 (checked); scale 1/256 (silent: the kernel assumes it).
  - TANH: output scale 1/128, zero point 0 (silent: nothing is checked).
  - Raw int8 values are copied or compared, so inputs and output must share scale and zero point:
    MAX_POOL_2D, AVERAGE_POOL_2D, CONCATENATION (checked); RELU6, PAD, RESHAPE, SQUEEZE (silent).
  - CONCATENATION: fused activation must be NONE (checked); at most 10 inputs, rank <= 4.
  - PAD: paddings must be a constant int32 tensor; rank <= 4; pads with the output zero point.
  - MEAN: axis tensor must be int32.
  - QUANTIZE: output must be per-tensor quantized.
  - Schema defaults are not TFLM's: an omitted SoftmaxOptions.beta is 0.0 (int8 SOFTMAX then
    aborts the process), omitted strides/filter sizes are 0. The keyword defaults here are sane.
  - Output shapes are taken from the output tensors as written: MEAN's keep_dims and RESHAPE's
    new_shape are not checked against them, so a wrong output shape is on the test author.
  - RELU, LEAKY_RELU, HARD_SWISH, ADD, SUB, MUL, MEAN, QUANTIZE requantize: any scales work.

Quantization helpers mirror TFLite's post-training quantizer (tensorflow/lite/tools/optimize/
quantization_utils.cc): float32 arithmetic, std::round (half away from zero). They live here for
the tests; the compiler has its own quantizer.
"""

from __future__ import annotations

import flatbuffers
import numpy as np
import tflite

_DTYPES = {  # name -> (tflite TensorType, numpy dtype)
    "float32": (tflite.TensorType.FLOAT32, np.float32),
    "int8": (tflite.TensorType.INT8, np.int8),
    "uint8": (tflite.TensorType.UINT8, np.uint8),
    "int16": (tflite.TensorType.INT16, np.int16),
    "int32": (tflite.TensorType.INT32, np.int32),
    "int64": (tflite.TensorType.INT64, np.int64),
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


def _no_options():
    return {}


_OPTIONS = {
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
}
# Not in _OPTIONS (no options table): RELU, RELU6, LOGISTIC, TANH and any other option-less op.


class ModelBuilder:
    """Collects tensors, constants and operators of one subgraph; `build()` returns .tflite bytes.

    Tensor-creating methods return the tensor's index, which `op`, `inputs` and `outputs` take.
    """

    def __init__(self, description: str = "microc test model"):
        self.description = description
        self._buffers: list[bytes] = [b""]  # buffer 0 is the empty buffer TFLite requires
        self._tensors: list[dict] = []
        self._ops: list[tuple[int, list[int], list[int], str | None, dict]] = []
        self._opcodes: list[int] = []  # builtin codes, index = opcode_index
        self._inputs: list[int] = []
        self._outputs: list[int] = []

    # -- graph --

    def tensor(self, name: str, shape, dtype: str, scale=None, zero_point=None, axis: int = 0,
               buffer: int = 0) -> int:
        """An activation tensor. Quantized when `scale` is given (scalar, or array per channel)."""
        if dtype not in _DTYPES:
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
        self._tensors.append(dict(name=name, shape=[int(d) for d in shape], dtype=dtype,
                                  buffer=buffer, quant=quant))
        return len(self._tensors) - 1

    def const(self, name: str, data, dtype: str | None = None, scale=None, zero_point=None,
              axis: int = 0) -> int:
        """A constant tensor holding `data`. Its dtype comes from the ndarray unless `dtype` is
        given; plain lists need `dtype` (numpy would silently pick int64/float64)."""
        if dtype is None:
            if not isinstance(data, np.ndarray):
                raise ValueError(f"const {name!r}: give dtype= for non-ndarray data")
            dtype = data.dtype.name
        if dtype not in _DTYPES:
            raise ValueError(f"const {name!r}: unsupported dtype {dtype!r}")
        arr = np.asarray(data, dtype=_DTYPES[dtype][1])
        self._buffers.append(arr.astype(arr.dtype.newbyteorder("<")).tobytes(order="C"))
        return self.tensor(name, arr.shape, dtype, scale, zero_point, axis,
                           buffer=len(self._buffers) - 1)

    def op(self, name: str, inputs, outputs, **options) -> None:
        """Append builtin operator `name` (e.g. "CONV_2D"); `options` as in `_OPTIONS`."""
        code = getattr(tflite.BuiltinOperator, name, None)
        if code is None:
            raise ValueError(f"unknown builtin operator {name!r}")
        table, fields = None, {}
        if name in _OPTIONS:
            table, make_fields = _OPTIONS[name]
            fields = make_fields(**options)
        elif options:
            raise TypeError(f"{name} takes no options, got {sorted(options)}")
        if code not in self._opcodes:
            self._opcodes.append(code)
        self._ops.append((self._opcodes.index(code), list(inputs), list(outputs), table, fields))

    def inputs(self, ids) -> None:
        self._inputs = list(ids)

    def outputs(self, ids) -> None:
        self._outputs = list(ids)

    # -- serialization (flatbuffers are built bottom-up: children before the table using them) --

    def build(self) -> bytes:
        b = flatbuffers.Builder(1024)
        buffers = [self._write_buffer(b, data) for data in self._buffers]
        tensors = [self._write_tensor(b, t) for t in self._tensors]
        ops = [self._write_op(b, *op) for op in self._ops]
        opcodes = [self._write_opcode(b, code) for code in self._opcodes]

        tensors_vec = _table_vector(b, tflite.SubGraphStartTensorsVector, tensors)
        inputs_vec = _int32_vector(b, self._inputs)
        outputs_vec = _int32_vector(b, self._outputs)
        ops_vec = _table_vector(b, tflite.SubGraphStartOperatorsVector, ops)
        sg_name = b.CreateString("main")
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, tensors_vec)
        tflite.SubGraphAddInputs(b, inputs_vec)
        tflite.SubGraphAddOutputs(b, outputs_vec)
        tflite.SubGraphAddOperators(b, ops_vec)
        tflite.SubGraphAddName(b, sg_name)
        subgraph = tflite.SubGraphEnd(b)

        subgraphs_vec = _table_vector(b, tflite.ModelStartSubgraphsVector, [subgraph])
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

    @staticmethod
    def _write_buffer(b, data: bytes) -> int:
        vec = _aligned_bytes(b, data) if data else None
        tflite.BufferStart(b)
        if vec is not None:
            tflite.BufferAddData(b, vec)
        return tflite.BufferEnd(b)

    @staticmethod
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
        tflite.TensorAddType(b, _DTYPES[t["dtype"]][0])
        tflite.TensorAddBuffer(b, t["buffer"])
        tflite.TensorAddName(b, name)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        return tflite.TensorEnd(b)

    @staticmethod
    def _write_op(b, opcode_index, inputs, outputs, table, fields) -> int:
        inputs_vec = _int32_vector(b, inputs)
        outputs_vec = _int32_vector(b, outputs)
        options = _write_options(b, table, fields) if table else None
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, opcode_index)
        tflite.OperatorAddInputs(b, inputs_vec)
        tflite.OperatorAddOutputs(b, outputs_vec)
        if options is not None:
            tflite.OperatorAddBuiltinOptionsType(b, getattr(tflite.BuiltinOptions, table))
            tflite.OperatorAddBuiltinOptions(b, options)
        return tflite.OperatorEnd(b)

    @staticmethod
    def _write_opcode(b, code: int) -> int:
        tflite.OperatorCodeStart(b)
        # Codes above 127 live only in builtin_code; the int8 deprecated field saturates at 127
        # (PLACEHOLDER_FOR_GREATER_OP_CODES), which is how readers know to look at builtin_code.
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddVersion(b, 1)
        return tflite.OperatorCodeEnd(b)


def _write_options(b, table: str, fields: dict) -> int:
    """Write an options table by calling tflite.<table>Add<Field> for each field; list values are
    written first as int32 vectors (flatbuffers forbids creating them inside an open table)."""
    values = {k: _int32_vector(b, v) if isinstance(v, list) else v for k, v in fields.items()}
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


# ---- running on TFLM ----


def run_tflm(model: bytes, inputs, arena_size: int = 8 << 20) -> list[np.ndarray]:
    """Run `model` once on tflite-micro's reference kernels and return copies of its outputs.

    Inputs must already have the model's dtype and shape; nothing is cast here, so a mismatch is
    an error rather than a silently different test. Prepare failures raise RuntimeError (TFLM's
    reason goes to stderr), but some malformed models trip a TFLITE_CHECK and abort the whole
    process, e.g. int8 SOFTMAX with beta 0."""
    from tflite_micro.python.tflite_micro import runtime  # imported late: it loads a C extension

    subgraph = tflite.Model.GetRootAs(model, 0).Subgraphs(0)
    if len(inputs) != subgraph.InputsLength():
        # TFLM would run anyway and read whatever the arena holds
        raise ValueError(f"model has {subgraph.InputsLength()} inputs, got {len(inputs)}")
    interp = runtime.Interpreter.from_bytes(bytes(model), arena_size=arena_size)
    for i, x in enumerate(inputs):
        interp.set_input(np.ascontiguousarray(x), i)
    interp.invoke()
    n_outputs = subgraph.OutputsLength()
    return [np.array(interp.get_output(i), copy=True) for i in range(n_outputs)]


# ---- quantization helpers (TFLite post-training quantizer semantics) ----


def round_half_away(x) -> np.ndarray:
    """std::round / TfLiteRound: ties away from zero (numpy's round is ties-to-even). Exact: the
    fractional part x - trunc(x) is representable, so no `floor(x + 0.5)` double rounding."""
    x = np.asarray(x)
    t = np.trunc(x)
    return np.where(np.abs(x - t) >= 0.5, t + np.sign(x), t)


def quant_params_for(rmin: float, rmax: float, dtype: str = "int8") -> tuple[float, int]:
    """Asymmetric activation (scale, zero_point) for the real range [rmin, rmax], as TFLite's
    GetAsymmetricQuantizationParams: the range is widened to contain 0, scale computed in float32,
    zero point rounded and clamped to the integer range."""
    info = np.iinfo(_DTYPES[dtype][1])
    qmin, qmax = np.float32(info.min), np.float32(info.max)
    rmin, rmax = np.float32(min(rmin, 0.0)), np.float32(max(rmax, 0.0))
    scale = np.float32((rmax - rmin) / (qmax - qmin))
    if scale == 0:
        raise ValueError("quant_params_for: empty range (min == max == 0)")
    zp_from_min = np.float32(qmin - rmin / scale)
    zp = int(np.clip(round_half_away(zp_from_min), qmin, qmax))
    return float(scale), zp


def quantize(x, scale: float, zero_point: int, dtype: str = "int8") -> np.ndarray:
    """Float -> integer as TFLM's QUANTIZE (AffineQuantize): round(x / scale) + zp in float32,
    clamped. Bit-exact with the kernel."""
    info = np.iinfo(_DTYPES[dtype][1])
    r = round_half_away(np.asarray(x, np.float32) / np.float32(scale))
    q = np.clip(r, -2.0**31, 2.0**31 - 1).astype(np.int64) + zero_point  # int add, as in C
    return np.clip(q, info.min, info.max).astype(_DTYPES[dtype][1])


def dequantize(q, scale: float, zero_point: int) -> np.ndarray:
    """Integer -> float as TFLM's DEQUANTIZE: the product is taken in double, then cast."""
    diff = np.asarray(q, np.int64) - zero_point
    return (np.float64(np.float32(scale)) * diff).astype(np.float32)


def quantize_weights_per_channel(w, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per-channel weights: scale = max|w| / 127 along every index of `axis`,
    values round(w * 127 / max|w|) in [-127, 127]. Returns (int8 weights, float32 scales).
    An all-zero channel gets scale 1.0 (TFLite would write 0, a degenerate scale)."""
    w = np.asarray(w, np.float32)
    other = tuple(d for d in range(w.ndim) if d != axis % w.ndim)
    half_range = np.max(np.abs(w), axis=other, keepdims=True)
    safe = np.where(half_range == 0, np.float32(127), half_range)
    scale_inv = np.float32(127) / safe
    q = np.clip(round_half_away(w * scale_inv), -127, 127).astype(np.int8)
    scales = (safe / np.float32(127)).reshape(-1).astype(np.float32)
    return q, scales


def quantize_bias(bias, input_scale: float, weight_scales) -> tuple[np.ndarray, np.ndarray]:
    """Int32 bias with scale input_scale * weight_scale (per channel), zero point 0, as TFLite's
    SymmetricPerChannelBiasQuantize. Returns (int32 bias, float32 scales)."""
    scales = (np.float32(input_scale) * np.asarray(weight_scales, np.float32)).astype(np.float32)
    scales = np.broadcast_to(scales, np.shape(bias)).astype(np.float32)
    s64 = scales.astype(np.float64)  # C: float inv = 1.0 / scale (double division, then float)
    inv = np.divide(1.0, s64, out=np.zeros_like(s64), where=s64 != 0).astype(np.float32)
    lim = np.iinfo(np.int32).max
    q = np.clip(round_half_away(np.asarray(bias, np.float32) * inv), -lim, lim)
    return q.astype(np.int32), scales
