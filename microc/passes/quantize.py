"""Post-training int8 (or 16x8) quantization of a float IR graph, with TFLite's scheme and arithmetic.

Weights: symmetric int8 (zero point 0, values in [-127, 127]) per output channel: CONV_2D and
FULLY_CONNECTED along axis 0, DEPTHWISE_CONV_2D along axis 3. (TFLite's older quantizer keeps
FULLY_CONNECTED per tensor; TFLite Micro runs per-channel FULLY_CONNECTED, and with batch norm folded
into dense layers, rows differ by 40x in the MLPerf Tiny autoencoder: per channel gains 6-8 dB there.)
Bias: int32, scale input_scale * weight_scale,
zero point 0. Activations: asymmetric int8 per tensor from the calibrated range. Scale constraints of
the int8 kernels (TFLite Micro): SOFTMAX/LOGISTIC output 1/256 zp -128, TANH 1/128 zp 0; ops that
copy or compare raw int8 values keep their input's parameters; CONCATENATION's inputs are requantized
to the output's parameters where they differ. Parameter arithmetic is float32 with round-half-away, as
quantization_utils.cc (GetAsymmetricQuantizationParams, SymmetricPerChannelQuantization).
16x8 (scheme "int16x8"): activations symmetric int16 (zero point 0, scale max|range| / 32767), the same
int8 weights, int64 biases; LOGISTIC/TANH/SOFTMAX outputs 2^-15.
"""
from __future__ import annotations

import numpy as np

from microc.errors import MicrocError, UnsupportedOperator
from microc.ir import Graph, Op, Quant, Tensor

_FIXED_OUTPUT = {"SOFTMAX": (1.0 / 256, -128), "LOGISTIC": (1.0 / 256, -128), "TANH": (1.0 / 128, 0)}
_SAME_AS_INPUT = {"MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE", "SQUEEZE", "PAD", "RELU6", "TRANSPOSE", "SPLIT_V"}
_OWN_RANGE = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "RELU",
              "LEAKY_RELU", "HARD_SWISH", "MEAN", "CONCATENATION"}
SUPPORTED = sorted(_OWN_RANGE | _SAME_AS_INPUT | set(_FIXED_OUTPUT))
# 16x8 (--scheme int16x8): int16 activations, symmetric (zero point 0), int8 weights, int64 bias; the
# operators microc runs in int16, and TFLM's fixed output scale of LOGISTIC/TANH (2^-15, its checks).
_FIXED_OUTPUT_16 = {"LOGISTIC": (2.0**-15, 0), "TANH": (2.0**-15, 0), "SOFTMAX": (2.0**-15, 0)}
SUPPORTED_16 = sorted({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "LEAKY_RELU",
                       "CONCATENATION", "RESHAPE", "SQUEEZE", "PAD", "MAX_POOL_2D", "AVERAGE_POOL_2D", "RELU",
                       "RELU6", "TRANSPOSE", "MEAN", "SPLIT_V"} | set(_FIXED_OUTPUT_16))
SCHEMES = {"int8": SUPPORTED, "int16x8": SUPPORTED_16}
_WEIGHT_AXIS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0}
_INT32_MAX = np.iinfo(np.int32).max


class QuantizationError(MicrocError):
    pass


# ---- TFLite's parameter arithmetic ----


def round_half_away(x) -> np.ndarray:
    """std::round: ties away from zero (numpy rounds ties to even)."""
    x = np.asarray(x)
    t = np.trunc(x)
    return np.where(np.abs(x - t) >= 0.5, t + np.sign(x), t)


def activation_quant(lo: float, hi: float) -> Quant:
    """Asymmetric int8 parameters for [lo, hi], widened to contain 0 (GetAsymmetricQuantizationParams)."""
    lo, hi = np.float32(min(lo, 0.0)), np.float32(max(hi, 0.0))
    if hi == lo:  # a tensor that is always 0: any scale represents it
        hi = np.float32(1.0)
    scale = np.float32((hi - lo) / np.float32(255))
    zp = int(np.clip(round_half_away(np.float32(-128) - lo / scale), -128, 127))
    return Quant(np.array([scale], np.float64), np.array([zp], np.int64))


def symmetric_activation_quant(lo: float, hi: float) -> Quant:
    """Symmetric int16 parameters for [lo, hi]: scale max(|lo|, |hi|) / 32767 in float32, zero point 0."""
    half = np.float32(max(abs(lo), abs(hi))) or np.float32(1.0)
    return Quant(np.array([np.float32(half / np.float32(32767))], np.float64), np.array([0], np.int64))


def quantize_values(x, q: Quant, dtype: str = "int8") -> np.ndarray:
    """Float -> int8 (or int16) as TFLite Micro's QUANTIZE: round(x / scale) in float32, plus zp, clamped."""
    r = round_half_away(np.asarray(x, np.float32) / np.float32(q.s))
    info = np.iinfo(dtype)
    return np.clip(r + q.zp, info.min, info.max).astype(dtype)


def dequantize_values(x, q: Quant) -> np.ndarray:
    return (np.float64(np.float32(q.s)) * (np.asarray(x, np.int64) - q.zp)).astype(np.float32)


def symmetric_weights(w: np.ndarray, axis: int | None, min_scale=None) -> tuple[np.ndarray, Quant]:
    """int8 weights, scale max|w| / 127 per channel along `axis` (or per tensor); `min_scale` raises
    scales so the bias fits in int32 (AdjustWeightsForBiasScale). An all-zero channel gets scale 1."""
    w = np.asarray(w, np.float32)
    if axis is None:
        half = np.max(np.abs(w)).reshape(1)
        shape = (1,) * w.ndim
    else:
        half = np.max(np.abs(w), axis=tuple(d for d in range(w.ndim) if d != axis))
        shape = tuple(-1 if d == axis else 1 for d in range(w.ndim))
    half = half.astype(np.float32)
    if min_scale is not None:
        half = np.maximum(half, (np.asarray(min_scale, np.float32) * np.float32(127)).astype(np.float32))
    half = np.where(half == 0, np.float32(127), half).astype(np.float32)
    scales = (half / np.float32(127)).astype(np.float32)
    inv = (np.float32(127) / half).astype(np.float32)
    q = np.clip(round_half_away(w * inv.reshape(shape)), -127, 127).astype(np.int8)
    return q, Quant(scales.astype(np.float64), np.zeros(scales.size, np.int64), axis)


def bias_values(b: np.ndarray, input_scale: float, weight: Quant,
                dtype: str = "int32") -> tuple[np.ndarray, Quant]:
    """int32 (int64 for 16x8) bias with scale input_scale * weight_scale, zero point 0
    (SymmetricPerChannelBiasQuantize)."""
    scales = (np.float32(input_scale) * weight.scale.astype(np.float32)).astype(np.float32)
    inv = (1.0 / scales.astype(np.float64)).astype(np.float32)
    limit = _INT32_MAX if dtype == "int32" else 2.0**62
    q = np.clip(round_half_away(np.asarray(b, np.float32) * inv), -limit, limit)
    axis = 0 if weight.per_channel else None
    return q.astype(dtype), Quant(scales.astype(np.float64), np.zeros(scales.size, np.int64), axis)


# ---- the pass ----


def quantize_graph(graph: Graph, ranges: dict[int, tuple[float, float]],
                   float_io: bool = False, scheme: str = "int8") -> tuple[Graph, dict[int, Tensor]]:
    """The int8 (or 16x8) graph of float `graph`, given each activation's calibrated range (by
    id(tensor)). Returns it with a map id(float tensor) -> its quantized counterpart. With `float_io`
    the graph keeps float32 inputs and outputs (QUANTIZE after each input, DEQUANTIZE before each
    output)."""
    check_quantizable(graph, scheme)
    qz = _Quantizer(ranges, scheme)
    for t in graph.inputs:
        qz.new[id(t)] = qz.activation(t, qz.range_quant(t))
    ops = []
    for op in graph.ops:
        ops.extend(qz.op(op))
    inputs = [qz.new[id(t)] for t in graph.inputs]
    outputs = [qz.new[id(t)] for t in graph.outputs]
    if float_io:
        inputs, outputs, ops = _float_io(graph, inputs, outputs, ops, qz.dtype)
    return Graph(graph.name, ops, inputs, outputs, graph.source_hash), qz.new


def check_quantizable(graph: Graph, scheme: str = "int8") -> None:
    """A float32 graph of operators `scheme` supports, or a one-line error (checked before calibrating)."""
    if scheme not in SCHEMES:
        raise QuantizationError(f"unknown quantization scheme {scheme} (microc quantizes to {', '.join(SCHEMES)})")
    if any(t.dtype != "float32" for t in graph.inputs) or any(t.quant for t in graph.activations()):
        raise QuantizationError(f"{graph.name} is not a float32 model (already quantized?); "
                                "int8 quantization needs float inputs and activations")
    hybrid = [op for op in graph.ops if op.type in _WEIGHT_AXIS and len(op.inputs) > 1
              and op.inputs[1] is not None and op.inputs[1].dtype != "float32"]
    if hybrid:
        raise QuantizationError(f"{graph.name} is a hybrid model ({hybrid[0].type} {hybrid[0].name!r} has "
                                f"{hybrid[0].inputs[1].dtype} weights): quantize its float32 original")
    bad = [op for op in graph.ops if op.type not in SCHEMES[scheme]]
    if bad:
        raise UnsupportedOperator(f"cannot quantize {bad[0].type} {bad[0].name!r} to {scheme} "
                                  f"(microc quantizes {', '.join(SCHEMES[scheme])})")


class _Quantizer:
    def __init__(self, ranges, scheme: str = "int8"):
        self.ranges = ranges
        self.new: dict[int, Tensor] = {}
        self.wide = scheme == "int16x8"  # int16 activations, int64 biases
        self.dtype = "int16" if self.wide else "int8"
        self.fixed = _FIXED_OUTPUT_16 if self.wide else _FIXED_OUTPUT

    def quant_of(self, lo: float, hi: float) -> Quant:
        return symmetric_activation_quant(lo, hi) if self.wide else activation_quant(lo, hi)

    def range_quant(self, t: Tensor) -> Quant:
        if id(t) not in self.ranges:
            raise QuantizationError(f"tensor {t.name!r} has no calibrated range")
        return self.quant_of(*self.ranges[id(t)])

    def activation(self, t: Tensor, q: Quant, name: str | None = None) -> Tensor:
        return Tensor(name or t.name, t.shape, self.dtype, q)

    def op(self, op: Op) -> list[Op]:
        """The int8 op(s) replacing `op`: requantizing QUANTIZE ops first where needed."""
        inputs: list[Tensor | None] = []
        for i, t in enumerate(op.inputs):  # in order: the bias needs the input and weight scales
            inputs.append(self._input(op, i, t, inputs))
        out_q = self._output_quant(op, inputs)
        pre = []
        if op.type == "CONCATENATION":
            for i, t in enumerate(inputs):
                if not _same_quant(t.quant, out_q):
                    r = Tensor(f"{t.name}/requantized", t.shape, self.dtype, out_q)
                    pre.append(Op("QUANTIZE", [t], [r], {}, r.name, -1))
                    inputs[i] = r
        for t in op.outputs:
            self.new[id(t)] = self.activation(t, out_q)
        return [*pre, Op(op.type, inputs, [self.new[id(t)] for t in op.outputs], dict(op.attrs),
                         op.name, op.index)]

    def _output_quant(self, op: Op, inputs: list[Tensor | None]) -> Quant:
        if op.type in self.fixed:
            scale, zp = self.fixed[op.type]
            return Quant(np.array([scale]), np.array([zp], np.int64))
        if op.type in _SAME_AS_INPUT:
            return inputs[0].quant
        return self.range_quant(op.outputs[0])

    def _input(self, op: Op, i: int, t: Tensor | None, done: list) -> Tensor | None:
        if t is None:
            return None
        if not t.is_const:
            return self.new[id(t)]
        if t.dtype != "float32":  # shapes, paddings, axes: unchanged
            return t
        if op.type in _WEIGHT_AXIS and i == 1:
            return self._weights(op, t)
        if op.type in _WEIGHT_AXIS and i == 2:
            return self._bias(t, done[0].quant, done[1].quant)
        data = np.asarray(t.data, np.float32)  # a constant operand of ADD, MUL, CONCATENATION...
        q = self.quant_of(float(data.min()), float(data.max()))
        return Tensor(t.name, t.shape, self.dtype, q, quantize_values(data, q, self.dtype))

    def _weights(self, op: Op, w: Tensor) -> Tensor:
        if op.inputs[0].is_const:
            raise QuantizationError(f"{op.type} {op.name!r}: constant input is not supported")
        min_scale = None
        bias = op.inputs[2] if len(op.inputs) > 2 else None
        if bias is not None and bias.is_const and not self.wide:  # keep |bias| / (s_in * s_w) within half of int32
            s_in = np.float32(self.new[id(op.inputs[0])].quant.s)
            b = np.abs(np.asarray(bias.data, np.float32))
            need = 2 * b / (s_in * np.float32(_INT32_MAX))
            min_scale = need if _WEIGHT_AXIS[op.type] is not None else need.max()
        data, q = symmetric_weights(w.data, _WEIGHT_AXIS[op.type], min_scale)
        return Tensor(w.name, w.shape, "int8", q, data)

    def _bias(self, b: Tensor, input_q: Quant, weight_q: Quant) -> Tensor:
        dtype = "int64" if self.wide else "int32"
        data, q = bias_values(b.data, input_q.s, weight_q, dtype)
        return Tensor(b.name, b.shape, dtype, q, data)


def _same_quant(a: Quant, b: Quant) -> bool:
    return np.float32(a.s) == np.float32(b.s) and a.zp == b.zp


def _float_io(graph: Graph, inputs, outputs, ops, dtype: str = "int8"):
    """Float32 graph inputs quantized on entry, int8 (int16) outputs dequantized on exit (names kept)."""
    f_in = [Tensor(t.name, t.shape, "float32") for t in graph.inputs]
    f_out = [Tensor(t.name, t.shape, "float32") for t in graph.outputs]
    for t in inputs:
        t.name = f"{t.name}/{dtype}"
    for t in outputs:
        t.name = f"{t.name}/{dtype}"
    pre = [Op("QUANTIZE", [f], [q], {}, q.name, -1) for f, q in zip(f_in, inputs)]
    post = [Op("DEQUANTIZE", [q], [f], {}, f.name, -1) for q, f in zip(outputs, f_out)]
    return f_in, f_out, pre + ops + post
