"""ONNX node converters onto the IR: element-wise, activation, reduction and shape operators.
Convolution, Gemm/MatMul, pooling and batch normalization are in onnx_conv.

Each converter reads its node's inputs as Values (microc.frontends.onnx_graph), emits IR ops in TFLite's
vocabulary with their axes remapped to the producer's layout, and defines its outputs' Values.
"""
from __future__ import annotations

import math

import numpy as np
from onnx import NodeProto, numpy_helper

from microc.frontends.onnx_graph import Builder, Value
from microc.frontends.onnx_layout import Layout, after_dropping_axes, as_axis_perm, inverse
from microc.frontends.onnx_qdq import (act_dtype, attr, convert_dequantize, convert_quantize, emit_copying,
                                       emit_fixed_output, output, quant_target, requantized)

CONVERTERS = {}


def converter(*op_types: str):
    def register(fn):
        for t in op_types:
            CONVERTERS[t] = fn
        return fn
    return register


def supported_onnx_ops() -> list[str]:
    return sorted(CONVERTERS)


def out_shape(b: Builder, name: str) -> tuple[int, ...]:
    return b.infos[name][0]


def axis_perm(b: Builder, v: Value) -> Layout:
    """v's layout if it is an axis permutation of v's shape, else ONNX order (materialized by the caller)."""
    return v.layout if v.layout.is_perm_of(v.shape) else Layout.identity(v.shape)


def normalize_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


converter("QuantizeLinear")(convert_quantize)
converter("DequantizeLinear")(convert_dequantize)


@converter("Identity", "Dropout")
def convert_identity(b: Builder, node: NodeProto) -> None:
    if len(node.output) > 1 and node.output[1] and b.consumers.get(node.output[1]):
        raise b.refuse("the mask output of Dropout is not supported")
    if node.op_type == "Dropout" and len(node.input) > 2 and node.input[2]:
        training = b.const_input(2, "training_mode")
        ratio = b.const_input(1, "the ratio") if node.input[1] else 0.5
        if bool(training) and float(ratio) != 0.0:
            raise b.refuse("Dropout in training mode is random; microc compiles inference")
    b.values[node.output[0]] = b.input(0)


@converter("Constant")
def convert_constant(b: Builder, node: NodeProto) -> None:
    a = node.attribute[0]
    if a.name == "value":
        data = numpy_helper.to_array(a.t)
    elif a.name in ("value_float", "value_floats"):
        data = np.array(a.f if a.name == "value_float" else list(a.floats), np.float32)
    elif a.name in ("value_int", "value_ints"):
        data = np.array(a.i if a.name == "value_int" else list(a.ints), np.int64)
    else:
        raise b.refuse(f"a {a.name} constant is not supported")
    b.values[node.output[0]] = Value(node.output[0], data.shape, const=data)


@converter("Shape")
def convert_shape(b: Builder, node: NodeProto) -> None:
    """A constant: every shape is static here (PyTorch exports compute Reshape targets from it)."""
    shape = b.infos[node.input[0]][0] if node.input[0] in b.infos else b.input(0).shape
    start, end = attr(node, "start", 0), attr(node, "end", len(shape))
    data = np.array(shape[start:end], np.int64)
    b.values[node.output[0]] = Value(node.output[0], data.shape, const=data)


# ---- element-wise -----------------------------------------------------------------------------

_UNARY = {"Relu": "RELU", "Sigmoid": "LOGISTIC", "Tanh": "TANH", "HardSwish": "HARD_SWISH",
          "LeakyRelu": "LEAKY_RELU"}


@converter(*_UNARY)
def convert_unary(b: Builder, node: NodeProto) -> None:
    x = b.input(0)
    attrs = {"alpha": float(attr(node, "alpha", 0.01))} if node.op_type == "LeakyRelu" else {}
    unary(b, node, _UNARY[node.op_type], x, attrs)


def unary(b: Builder, node: NodeProto, op_type: str, x: Value, attrs: dict) -> None:
    qt = quant_target(b, node.output[0], [x])
    t = b.ir(x, x.layout, x.tensor.shape, act_dtype(qt))
    out = output(b, node.output[0], x.shape, x.layout, t.shape, qt)
    emit_fixed_output(b, op_type, [t], out, **attrs)


_CLIP_OPS = {(0.0, math.inf): "RELU", (0.0, 6.0): "RELU6", (-1.0, 1.0): "RELU_N1_TO_1"}


def clip_bounds(b: Builder, node: NodeProto) -> tuple[float, float]:
    lo = b.const_input(1, "the Clip minimum")
    hi = b.const_input(2, "the Clip maximum")
    return (-math.inf if lo is None else float(lo)), (math.inf if hi is None else float(hi))


def clip_activation(bounds: tuple[float, float]) -> str | None:
    return _CLIP_OPS.get(bounds)


def fuse_activation(b: Builder, name: str) -> tuple[str, str]:
    """Absorb a Relu, or a Clip with a kernel's bounds, that alone reads `name` into the op writing it:
    the name its result now goes by and the fused activation."""
    act = b.sole_consumer(name, ("Relu", "Clip"))
    if act is None:
        return name, "NONE"
    activation = "RELU" if act.op_type == "Relu" else None
    if act.op_type == "Clip" and all(not i or b.values[i].is_const for i in act.input[1:]):
        lo, hi = [b.values[act.input[k]].const if len(act.input) > k and act.input[k] else None
                  for k in (1, 2)]
        activation = clip_activation((-math.inf if lo is None else float(lo),
                                      math.inf if hi is None else float(hi)))
    if activation is None:
        return name, "NONE"
    b.done.add(id(act))
    return act.output[0], activation


@converter("Clip")
def convert_clip(b: Builder, node: NodeProto) -> None:
    bounds = clip_bounds(b, node)
    if bounds == (-math.inf, math.inf):
        b.values[node.output[0]] = b.input(0)
        return
    op_type = clip_activation(bounds)
    if op_type is None:
        raise b.refuse(f"Clip to [{bounds[0]:g}, {bounds[1]:g}]: only [0, 6], [-1, 1] and [0, inf) map onto "
                       "kernels (RELU6, RELU_N1_TO_1, RELU)")
    unary(b, node, op_type, b.input(0), {})


@converter("Add", "Sub", "Mul")
def convert_binary(b: Builder, node: NodeProto) -> None:
    name, activation = fuse_activation(b, node.output[0])
    binary(b, node, node.op_type.upper(), b.input(0), b.input(1), name, activation)


def binary(b: Builder, node: NodeProto, op_type: str, x: Value, y: Value, name: str,
           activation: str = "NONE") -> Value:
    shape = out_shape(b, name) if name in b.infos else np.broadcast_shapes(x.shape, y.shape)
    acts = [v for v in (x, y) if not v.is_const]
    qt = quant_target(b, name, acts)
    dtype = act_dtype(qt)
    general = [v for v in acts if not v.layout.is_perm_of(v.shape)]
    if general and all(v.shape == tuple(shape) and v.layout == general[0].layout for v in acts):
        layout = general[0].layout  # e.g. after a lazy Flatten: constants are broadcast and reordered
        ir_shape = general[0].tensor.shape
        ins = [_full_operand(b, v, shape, layout, ir_shape, dtype) for v in (x, y)]
    else:
        perm = next((v.layout.perm for v in acts if len(v.shape) == len(shape)
                     and v.layout.is_perm_of(v.shape)), tuple(range(len(shape))))
        layout = Layout(tuple(shape), perm)
        ir_shape = layout.permuted_shape()
        ins = [_broadcast_operand(b, v, shape, perm, dtype) for v in (x, y)]
    out = output(b, name, shape, layout, ir_shape, qt)
    b.emit(op_type, ins, [out], activation=activation)
    return b.values[out.name]


def _broadcast_operand(b: Builder, v: Value, shape, perm, dtype: str):
    expanded = (1,) * (len(shape) - len(v.shape)) + tuple(v.shape)
    return b.ir(v, Layout(expanded, perm), dtype=dtype)


def _full_operand(b: Builder, v: Value, shape, layout: Layout, ir_shape, dtype: str):
    if v.is_const:
        full = Value(v.name, tuple(shape), const=np.broadcast_to(v.const, shape))
        if v.qconst is not None:
            full.qconst = (np.broadcast_to(v.qconst[0], shape), v.qconst[1])
        v = full
    return b.ir(v, layout, ir_shape, dtype)


@converter("HardSigmoid")
def convert_hard_sigmoid(b: Builder, node: NodeProto) -> None:
    """max(0, min(1, alpha*x + beta)) = RELU(RELU_N1_TO_1(x*alpha + beta)): the same float32 operations."""
    x = b.input(0)
    alpha = Value("alpha", (), const=np.array(attr(node, "alpha", 0.2), np.float32))
    beta = Value("beta", (), const=np.array(attr(node, "beta", 0.5), np.float32))
    x = b.as_float(x)
    scaled = binary(b, node, "MUL", x, alpha, node.output[0] + "_scaled")
    shifted = binary(b, node, "ADD", scaled, beta, node.output[0] + "_clipped", activation="RELU_N1_TO_1")
    unary(b, node, "RELU", shifted, {})


# ---- axes -------------------------------------------------------------------------------------

@converter("Reshape", "Flatten", "Squeeze", "Unsqueeze")
def convert_reshape(b: Builder, node: NodeProto) -> None:
    """No data moves: the output keeps its input's element order, as an axis permutation of the new shape
    where one exists (a RESHAPE op), else as a lazy layout a later Gemm absorbs (no op at all)."""
    x = b.input(0)
    shape = out_shape(b, node.output[0])
    layout = as_axis_perm(x.layout, shape)
    if layout is not None:
        t = b.reshape(x.tensor, layout.permuted_shape())
        b.define(node.output[0], shape, t, layout, x.dequantized)
    else:
        b.define(node.output[0], shape, x.tensor, x.layout, x.dequantized)


@converter("Transpose")
def convert_transpose(b: Builder, node: NodeProto) -> None:
    """Free: only the recorded layout changes (IR = onnx_in.T(p) = onnx_out.T(q) with q = t^-1 . p)."""
    x = b.input(0)
    perm = attr(node, "perm", list(range(len(x.shape)))[::-1])
    b.values[node.output[0]] = transposed(b, x, perm, node.output[0])


def transposed(b: Builder, x: Value, perm, name: str | None = None) -> Value:
    inv = inverse(perm)
    shape = tuple(x.shape[p] for p in perm)
    if x.layout.is_perm_of(x.shape):
        layout, t = Layout(shape, tuple(inv[p] for p in x.layout.perm)), x.tensor
    else:
        layout, t = Layout(shape, inv), b.ir(x)
    return Value(name or x.name + "_T", shape, tensor=t, layout=layout, dequantized=x.dequantized)


@converter("Concat")
def convert_concat(b: Builder, node: NodeProto) -> None:
    values = [b.value(i) for i in node.input]
    shape = out_shape(b, node.output[0])
    axis = normalize_axis(attr(node, "axis"), len(shape))
    acts = [v for v in values if not v.is_const]
    qt = quant_target(b, node.output[0], acts)
    perm = next((v.layout.perm for v in acts if v.layout.is_perm_of(v.shape)), tuple(range(len(shape))))
    ins = [b.ir(v, Layout(v.shape, perm), dtype=act_dtype(qt)) for v in values]
    layout = Layout(tuple(shape), perm)
    out = output(b, node.output[0], shape, layout, layout.permuted_shape(), qt)
    ins = [requantized(b, t, out.quant) for t in ins]  # CONCATENATION copies int8 values as they are
    b.emit("CONCATENATION", ins, [out], axis=perm.index(axis), activation="NONE")


@converter("Softmax")
def convert_softmax(b: Builder, node: NodeProto) -> None:
    """SOFTMAX normalizes the IR's last axis: the input is put in an order where the ONNX axis (or,
    before opset 13, the trailing axes flattened together) comes last."""
    x = b.input(0)
    rank = len(x.shape)
    axis = normalize_axis(attr(node, "axis", 1 if b.opset < 13 else -1), rank)
    qt = quant_target(b, node.output[0], [x])
    joint = set(range(axis, rank)) if b.opset < 13 else {axis}
    layout = axis_perm(b, x)
    if set(layout.perm[rank - len(joint):]) != joint:
        rest = tuple(a for a in range(rank) if a not in joint)
        layout = Layout(tuple(x.shape), rest + tuple(sorted(joint)))
    t = b.ir(x, layout, dtype=act_dtype(qt))
    out = output(b, node.output[0], x.shape, layout, layout.permuted_shape(), qt)
    inner = int(np.prod([x.shape[a] for a in joint]))
    if t.shape[-1] == inner:
        emit_fixed_output(b, "SOFTMAX", [t], out, beta=1.0)
        return
    flat = b.reshape(t, (t.size // inner, inner))
    mid = b.like(out, flat.shape, "2d")
    emit_fixed_output(b, "SOFTMAX", [flat], mid, beta=1.0)
    b.emit("RESHAPE", [mid, b.const_tensor(np.array(out.shape, np.int32), "shape")], [out])


@converter("ReduceMean")
def convert_reduce_mean(b: Builder, node: NodeProto) -> None:
    x = b.input(0)
    rank = len(x.shape)
    axes = attr(node, "axes") if b.opset < 18 else b.const_input(1, "the axes")
    if axes is None or len(axes) == 0:
        if attr(node, "noop_with_empty_axes", 0):
            b.values[node.output[0]] = x
            return
        axes = range(rank)
    axes = sorted({normalize_axis(int(a), rank) for a in axes})
    reduce_mean(b, node, x, axes, bool(attr(node, "keepdims", 1)))


def reduce_mean(b: Builder, node: NodeProto, x: Value, axes: list[int], keep: bool) -> None:
    shape = out_shape(b, node.output[0])
    qt = quant_target(b, node.output[0], [x])
    layout = axis_perm(b, x)
    t = b.ir(x, layout, dtype=act_dtype(qt))
    ir_axes = np.array(sorted(layout.ir_axis(a) for a in axes), np.int32)
    perm = layout.perm if keep else after_dropping_axes(layout.perm, axes)
    out_layout = Layout(tuple(shape), perm)
    out = output(b, node.output[0], shape, out_layout, out_layout.permuted_shape(), qt)
    b.emit("MEAN", [t, b.const_tensor(ir_axes, "axes")], [out], keep_dims=keep)


@converter("GlobalAveragePool")
def convert_global_average_pool(b: Builder, node: NodeProto) -> None:
    x = b.input(0)
    if len(x.shape) == 4:
        reduce_mean_nhwc(b, node, x)
    else:  # 1-D or 3-D: the mean over every axis after N, C in the data's own order
        reduce_mean(b, node, x, list(range(2, len(x.shape))), True)


def reduce_mean_nhwc(b: Builder, node: NodeProto, x: Value) -> None:
    shape = out_shape(b, node.output[0])
    qt = quant_target(b, node.output[0], [x])
    layout = Layout.nhwc(x.shape)
    t = b.ir(x, layout, dtype=act_dtype(qt))
    out_layout = Layout.nhwc(shape)
    out = output(b, node.output[0], shape, out_layout, out_layout.permuted_shape(), qt)
    b.emit("MEAN", [t, b.const_tensor(np.array([1, 2], np.int32), "axes")], [out], keep_dims=True)


@converter("Pad")
def convert_pad(b: Builder, node: NodeProto) -> None:
    x = b.input(0)
    rank = len(x.shape)
    mode = attr(node, "mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode != "constant":
        raise b.refuse(f"{mode} padding is not supported (only constant zeros: PAD)")
    pads = b.const_input(1, "the pads").astype(np.int64)
    value = b.const_input(2, "the pad value") if len(node.input) > 2 and node.input[2] else None
    if value is not None and float(np.asarray(value).reshape(-1)[0]) != 0.0:
        raise b.refuse(f"padding with {float(np.asarray(value).reshape(-1)[0]):g}: only zeros are supported")
    axes = b.const_input(3, "the axes") if len(node.input) > 3 and node.input[3] else range(rank)
    axes = [normalize_axis(int(a), rank) for a in axes]
    begin, end = np.zeros(rank, np.int64), np.zeros(rank, np.int64)
    begin[axes], end[axes] = pads[:len(axes)], pads[len(axes):]
    if (begin < 0).any() or (end < 0).any():
        raise b.refuse("negative pads (cropping) are not supported")
    conv = b.sole_consumer(node.output[0], ("Conv",))
    if conv is not None and rank == 4 and not (begin[:2].any() or end[:2].any()) \
            and attr(conv, "auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"):
        # Zero padding of H and W is what the convolution's own pads do (with the input zero point in int8)
        b.conv_pads[id(conv)] = (int(begin[2]), int(begin[3]), int(end[2]), int(end[3]))
        b.values[node.output[0]] = x
        return
    pad(b, node, x, begin, end)


def pad(b: Builder, node: NodeProto, x: Value, begin, end, name: str | None = None) -> Value:
    name = name or node.output[0]
    shape = tuple(int(d + p + q) for d, p, q in zip(x.shape, begin, end))
    qt = quant_target(b, name, [x])
    layout = axis_perm(b, x)
    t = b.ir(x, layout, dtype=act_dtype(qt))
    paddings = np.array([[begin[p], end[p]] for p in layout.perm], np.int32)
    out_layout = Layout(shape, layout.perm)
    out = output(b, name, shape, out_layout, out_layout.permuted_shape(), qt)
    emit_copying(b, "PAD", [t, b.const_tensor(paddings, "paddings")], out)
    return b.values[out.name]


from microc.frontends import onnx_conv, onnx_gru, onnx_rnn  # noqa: E402,F401  (register their converters)
