"""QuantizeLinear/DequantizeLinear (QDQ) models folded onto int8 tensors.

A DequantizeLinear of an int8 constant gives a constant that carries its int8 data and Quant (weights,
int32 biases). A DequantizeLinear of an int8 activation gives a 'dequantized' value: its IR tensor is the
int8 one. A float op whose activation inputs are all dequantized and whose output feeds one
QuantizeLinear is emitted on the int8 tensors, writing the QuantizeLinear's output directly (quant_target),
so the graph becomes TFLite's int8 IR. Anything else around a QDQ pair is computed in float32 with
QUANTIZE/DEQUANTIZE ops at the boundary.
"""
from __future__ import annotations

import numpy as np
from onnx import NodeProto

from microc.frontends.onnx_graph import Builder, Value
from microc.ir import Quant, Tensor


def attr(node: NodeProto, name: str, default=None):
    from onnx import helper
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _params(b: Builder, node: NodeProto, per_tensor: bool) -> Quant:
    scale = b.const_input(1, "the scale")
    zp = b.const_input(2, "the zero point") if len(node.input) > 2 and node.input[2] else None
    if zp is None or zp.dtype not in (np.int8, np.int32):
        kind = "uint8 (no zero point given)" if zp is None else str(zp.dtype)
        raise b.refuse(f"{kind} quantization is not supported; quantize to int8 (QuantType.QInt8)")
    if attr(node, "block_size", 0):
        raise b.refuse("blocked quantization (block_size) is not supported")
    scale = np.asarray(scale, np.float64).reshape(-1)
    zp = np.broadcast_to(np.asarray(zp, np.int64).reshape(-1), scale.shape).copy()
    if per_tensor and scale.size != 1:
        raise b.refuse("activations must be quantized per tensor")
    axis = attr(node, "axis", 1) if scale.size > 1 else None
    return Quant(scale=scale, zero_point=zp, axis=axis)


def same_quant(a: Quant | None, b: Quant | None) -> bool:
    return a is not None and b is not None and np.array_equal(a.scale, b.scale) \
        and np.array_equal(a.zero_point, b.zero_point)


def quant_target(b: Builder, final: str, acts: list[Value]) -> tuple[NodeProto, Quant] | None:
    """The QuantizeLinear the op writes into directly, when it runs in int8."""
    if not acts or not all(v.dequantized for v in acts):
        return None
    q = b.sole_consumer(final, ("QuantizeLinear",))
    if q is None:
        return None
    saved = b.node
    b.node = q
    try:
        quant = _params(b, q, per_tensor=True)
    finally:
        b.node = saved
    return q, quant


def output(b: Builder, name: str, shape, layout, ir_shape, qt) -> Tensor:
    """The output tensor of an op: float32, or int8 standing for its QuantizeLinear's output."""
    if qt is None:
        t = b.tensor(name, ir_shape, "float32")
        b.define(name, shape, t, layout)
        return t
    q, quant = qt
    b.done.add(id(q))
    t = b.tensor(q.output[0], ir_shape, "int8", quant)
    b.define(q.output[0], shape, t, layout)
    return t


def requantized(b: Builder, t: Tensor, quant: Quant | None) -> Tensor:
    """t itself when it is quantized as `quant` (or float), else a QUANTIZE (int8 -> int8) of it."""
    if t.dtype != "int8" or quant is None or same_quant(t.quant, quant):
        return t
    out = b.like(t, t.shape, "rq")
    out.quant = quant
    b.emit("QUANTIZE", [t], [out])
    return out


def emit_copying(b: Builder, op_type: str, inputs: list, out: Tensor, **attrs) -> None:
    """Emit an op that moves int8 values without rescaling (pools, PAD): TFLite wants its input and
    output quantized alike, so it writes in its input's quantization and a QUANTIZE requantizes to the
    output's when the QuantizeLinear after it asks for other parameters."""
    x = inputs[0]
    if out.dtype != "int8" or same_quant(x.quant, out.quant):
        b.emit(op_type, inputs, [out], **attrs)
        return
    mid = b.like(x, out.shape, "q")
    b.emit(op_type, inputs, [mid], **attrs)
    b.emit("QUANTIZE", [mid], [out])


# TFLite's int8 kernels for these produce a fixed output quantization (scale, zero point).
FIXED_OUTPUT_QUANT = {"SOFTMAX": (1 / 256, -128), "LOGISTIC": (1 / 256, -128), "TANH": (1 / 128, 0)}


def emit_fixed_output(b: Builder, op_type: str, inputs: list, out: Tensor, **attrs) -> None:
    """Emit an op whose int8 output quantization TFLite fixes; a QUANTIZE after it moves its result to
    the parameters the model's QuantizeLinear asks for, when they differ (onnxruntime uses 1/255)."""
    fixed = FIXED_OUTPUT_QUANT.get(op_type)
    if out.dtype != "int8" or fixed is None:
        b.emit(op_type, inputs, [out], **attrs)
        return
    quant = Quant(np.array([fixed[0]]), np.array([fixed[1]], np.int64))
    if same_quant(out.quant, quant):
        b.emit(op_type, inputs, [out], **attrs)
        return
    mid = b.like(out, out.shape, "fixed")
    mid.quant = quant
    b.emit(op_type, inputs, [mid], **attrs)
    b.emit("QUANTIZE", [mid], [out])


def act_dtype(qt) -> str:
    return "int8" if qt else "float32"


def convert_quantize(b: Builder, node: NodeProto) -> None:
    x = b.input(0)
    quant = _params(b, node, per_tensor=True)
    if x.dequantized and same_quant(x.tensor.quant, quant):
        b.define(node.output[0], x.shape, x.tensor, x.layout)
        return
    out = b.tensor(node.output[0], x.tensor.shape, "int8", quant)
    src = x.tensor if x.dequantized else b.ir(x, x.layout, x.tensor.shape, "float32")
    b.emit("QUANTIZE", [src], [out])
    b.define(node.output[0], x.shape, out, x.layout)


def convert_dequantize(b: Builder, node: NodeProto) -> None:
    x = b.input(0)
    quant = _params(b, node, per_tensor=False)
    if x.is_const:
        b.values[node.output[0]] = _dequantized_const(node.output[0], x.const, quant)
        return
    if x.tensor.dtype != "int8":
        raise b.refuse(f"dequantizing a run-time {x.tensor.dtype} tensor is not supported")
    if quant.per_channel:
        raise b.refuse("activations must be quantized per tensor")
    t = x.tensor
    if t.quant is None:  # an int8 graph input takes the quantization its first use gives it
        t.quant = quant
    elif not same_quant(t.quant, quant):
        alias = b.tensor(f"{t.name}_as_{node.output[0]}", t.shape, "int8", quant)
        b.emit("RESHAPE", [t, b.const_tensor(np.array(t.shape, np.int32), "shape")], [alias])
        t = alias
    b.define(node.output[0], x.shape, t, x.layout, dequantized=True)


def _dequantized_const(name: str, data: np.ndarray, quant: Quant) -> Value:
    shape = [1] * data.ndim
    if quant.per_channel:
        shape[quant.axis % data.ndim] = -1
    real = (data.astype(np.float64) - quant.zero_point.reshape(shape)) * quant.scale.reshape(shape)
    if quant.per_channel:
        quant = Quant(quant.scale, quant.zero_point, quant.axis % data.ndim)
    return Value(name, data.shape, const=real.astype(np.float32), qconst=(data, quant))


def weight_quant(v: Value, onnx_axis_to_ir: dict[int, int]) -> Quant:
    """The IR quantization of a constant's int8 data, its per-channel axis remapped."""
    q = v.qconst[1]
    if not q.per_channel:
        return Quant(q.scale, q.zero_point, None)
    return Quant(q.scale, q.zero_point, onnx_axis_to_ir[q.axis])


def bias_int32(b: Builder, bias: Value | None, x: Tensor, w_quant: Quant, channels: int) -> np.ndarray | None:
    """An int32 bias at scale input_scale * weight_scale: the model's own, or the float one rounded."""
    if bias is None:
        return None
    scale = float(x.quant.s) * np.broadcast_to(w_quant.scale, (channels,))
    if bias.qconst is not None and bias.qconst[0].dtype == np.int32:
        data, q = bias.qconst
        if not np.allclose(np.broadcast_to(q.scale, (channels,)), scale, rtol=1e-6):
            raise b.refuse("the int32 bias scale is not input scale x weight scale")
        return np.broadcast_to(data.reshape(-1), (channels,)).astype(np.int32)
    return np.clip(np.round(bias.const.reshape(-1) / scale), -2**31, 2**31 - 1).astype(np.int32)
