"""ONNX Conv, Gemm/MatMul, pooling and BatchNormalization onto CONV_2D, DEPTHWISE_CONV_2D,
FULLY_CONNECTED, MAX_POOL_2D, AVERAGE_POOL_2D (and MUL/ADD for a batch norm with nothing to fold into).

Weights are rearranged at import (OIHW -> OHWI, depthwise -> 1HW(C*M), grouped -> block-diagonal dense,
[K,N] -> [N,K], Gemm columns permuted to the order of a lazily flattened NHWC input); a following
BatchNormalization is folded into them and a following Relu/Clip into the op's fused activation.
"""
from __future__ import annotations

import math

import numpy as np
from onnx import NodeProto

from microc.frontends.onnx_graph import Builder, Value
from microc.frontends.onnx_layout import Layout, gemm_columns
from microc.frontends.onnx_ops import binary, converter, fuse_activation, out_shape, transposed
from microc.frontends.onnx_qdq import (act_dtype, attr, bias_int32, emit_copying, output, quant_target,
                                       weight_quant)
from microc.ir import Quant


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else v


def resolve_pads(b: Builder, node: NodeProto, in_hw, kernel, stride, dilation) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) from pads or auto_pad, as ONNX defines them."""
    auto = _text(attr(node, "auto_pad", b"NOTSET"))
    if auto == "NOTSET":
        p = list(attr(node, "pads", [0, 0, 0, 0]))
        return p[0], p[1], p[2], p[3]
    if auto == "VALID":
        return 0, 0, 0, 0
    begin, end = [], []
    for size, k, s, d in zip(in_hw, kernel, stride, dilation):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small, big = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else big)
        end.append(big if auto == "SAME_UPPER" else small)
    return begin[0], begin[1], end[0], end[1]


def fuse_following(b: Builder, name: str, fold_bn: bool) -> tuple[str, str, NodeProto | None]:
    """Absorb a BatchNormalization (float weights only) and then a Relu/Clip that alone read `name`.
    Returns the name the op's result now goes by, its fused activation and the folded batch norm."""
    bn = b.sole_consumer(name, ("BatchNormalization",)) if fold_bn else None
    foldable = bn is not None and not attr(bn, "training_mode", 0)
    if foldable and all(b.values[i].is_const for i in bn.input[1:5]):
        b.done.add(id(bn))
        name = bn.output[0]
    else:
        bn = None
    name, activation = fuse_activation(b, name)
    return name, activation, bn


def fold_batch_norm(b: Builder, bn: NodeProto, weights: np.ndarray, bias: np.ndarray | None):
    """W' = W * s, b' = (b - mean) * s + beta with s = gamma / sqrt(var + eps), per output channel
    (axis 0 of weights)."""
    gamma, beta, mean, var = (b.values[i].const.astype(np.float64) for i in bn.input[1:5])
    scale = gamma / np.sqrt(var + float(attr(bn, "epsilon", 1e-5)))
    bias = np.zeros_like(mean) if bias is None else bias.astype(np.float64)
    shape = (-1,) + (1,) * (weights.ndim - 1)
    weights = (weights * scale.reshape(shape)).astype(np.float32)
    return weights, ((bias - mean) * scale + beta).astype(np.float32)


def _weights(b: Builder, w: Value, qt, what: str) -> np.ndarray:
    if w is None or not w.is_const:
        raise b.refuse(f"{what} must be constant")
    if qt is not None:
        if w.qconst is None:
            raise b.refuse(f"{what} are float where the int8 op needs DequantizeLinear'd int8 ones")
        return w.qconst[0]
    return w.const.astype(np.float32)


def _bias_tensor(b: Builder, bias_v: Value | None, bias_f, x_t, w_quant: Quant | None, channels: int, qt):
    if qt is None:
        return None if bias_f is None else b.const_tensor(bias_f, "bias", "float32")
    data = bias_int32(b, bias_v, x_t, w_quant, channels)
    if data is None:
        return None
    scale = float(x_t.quant.s) * np.broadcast_to(w_quant.scale, (channels,)).astype(np.float64)
    quant = Quant(scale, np.zeros(channels, np.int64), 0 if channels > 1 and w_quant.per_channel else None)
    if quant.axis is None:
        quant = Quant(scale[:1], np.zeros(1, np.int64))
    return b.const_tensor(data, "bias", "int32", quant)


# ---- convolution ------------------------------------------------------------------------------

def as_2d(b: Builder, x: Value, what: str) -> Value:
    """A 3-D (N, C, L) input seen as (N, C, 1, L): the same data, so the same layout."""
    if len(x.shape) == 3:
        return Value(x.name, x.shape[:2] + (1,) + x.shape[2:], tensor=x.tensor, layout=x.layout,
                     dequantized=x.dequantized)
    if len(x.shape) != 4:
        raise b.refuse(f"input {x.shape}: only 1-D and 2-D {what} (3-D or 4-D NCHW input) is supported")
    return x


def spatial_attrs(node: NodeProto, name: str, default: int, rank: int) -> tuple[int, ...]:
    """A per-spatial-axis attribute, with H = 1 prepended for a 1-D op (pads: begin and end)."""
    dims = rank - 2
    v = list(attr(node, name, [default] * (dims if name != "pads" else 2 * dims)))
    if rank == 4:
        return tuple(v)
    if name == "pads":
        return (0, v[0], 0, v[1])
    return (1,) + tuple(v)


def node_pads(b: Builder, node: NodeProto, x: Value, rank: int, kernel, stride, dilation):
    if rank == 3 and _text(attr(node, "auto_pad", b"NOTSET")) == "NOTSET":
        return spatial_attrs(node, "pads", 0, rank)
    in_hw = x.shape[2:]
    return resolve_pads(b, node, in_hw, kernel, stride, dilation)


def define_1d(b: Builder, out, rank: int, shape) -> None:
    """Give a 1-D op's output Value its ONNX (N, C, L) shape back (the IR stays (N, 1, L, C))."""
    if rank == 3:
        b.values[out.name].shape = tuple(shape)


@converter("Conv")
def convert_conv(b: Builder, node: NodeProto) -> None:
    x, w, bias = b.input(0), b.input(1), b.input(2)
    rank = len(x.shape)
    x = as_2d(b, x, "convolution")
    if w is None or not w.is_const:
        raise b.refuse("the weights must be constant")
    if rank == 3:
        w = _weights_2d(w)
    group = int(attr(node, "group", 1))
    out_c, _, k_h, k_w = w.shape
    channels = x.shape[1]
    stride, dilation = spatial_attrs(node, "strides", 1, rank), spatial_attrs(node, "dilations", 1, rank)
    pads = node_pads(b, node, x, rank, (k_h, k_w), stride, dilation)
    pads = tuple(p + q for p, q in zip(pads, b.conv_pads.get(id(node), (0, 0, 0, 0))))
    name, activation, bn = fuse_following(b, node.output[0], w.qconst is None)
    qt = quant_target(b, name, [x])
    xt = b.ir(x, Layout.nhwc(x.shape), dtype=act_dtype(qt))
    wdata = _weights(b, w, qt, "the weights")
    bias_f = None if bias is None else bias.const.astype(np.float32)
    if bn is not None:
        wdata, bias_f = fold_batch_norm(b, bn, wdata, bias_f)
    depthwise = group > 1 and group == channels and w.shape[1] == 1
    attrs = dict(stride=stride, dilation=dilation, pads=pads, activation=activation)
    if depthwise:
        op_type, axis_map = "DEPTHWISE_CONV_2D", {0: 3}
        filt = wdata.reshape(out_c, k_h, k_w).transpose(1, 2, 0)[None]
        attrs["depth_multiplier"] = out_c // channels
    else:
        op_type, axis_map = "CONV_2D", {0: 0}
        filt = (_block_diagonal(wdata, group, channels) if group > 1 else wdata).transpose(0, 2, 3, 1)
    if qt and w.qconst[1].per_channel and w.qconst[1].axis != 0:
        raise b.refuse("int8 weights must be quantized per output channel (axis 0)")
    w_quant = weight_quant(w, axis_map) if qt else None
    wt = b.const_tensor(filt, w.name, "int8" if qt else "float32", w_quant)
    bt = _bias_tensor(b, bias, bias_f, xt, w_quant, out_c, qt)
    shape = out_shape(b, node.output[0])
    shape4 = shape if rank == 4 else shape[:2] + (1,) + shape[2:]
    layout = Layout.nhwc(shape4)
    out = output(b, name, shape4, layout, layout.permuted_shape(), qt)
    define_1d(b, out, rank, shape)
    b.emit(op_type, [xt, wt, bt], [out], **attrs)


def _weights_2d(w: Value) -> Value:
    """Conv1D weights (M, C/g, k) as (M, C/g, 1, k)."""
    shape = w.shape[:2] + (1,) + w.shape[2:]
    v = Value(w.name, shape, const=w.const.reshape(shape))
    if w.qconst is not None:
        v.qconst = (w.qconst[0].reshape(shape), w.qconst[1])
    return v


def _block_diagonal(w: np.ndarray, group: int, channels: int) -> np.ndarray:
    """A grouped convolution's weights as one dense filter, zero across groups (exact: the zero taps
    add nothing), since CONV_2D reads every input channel."""
    out_c, per_group, k_h, k_w = w.shape
    dense = np.zeros((out_c, channels, k_h, k_w), w.dtype)
    outs = out_c // group
    for g in range(group):
        dense[g * outs:(g + 1) * outs, g * per_group:(g + 1) * per_group] = w[g * outs:(g + 1) * outs]
    return dense


# ---- Gemm and MatMul --------------------------------------------------------------------------

@converter("Gemm")
def convert_gemm(b: Builder, node: NodeProto) -> None:
    w = b.input(1)
    if not w.is_const:
        raise b.refuse("B must be constant (it becomes FULLY_CONNECTED weights)")
    a = b.input(0)
    if attr(node, "transA", 0):
        a = transposed(b, a, (1, 0))
    fully_connected(b, node, a, w, b.input(2), float(attr(node, "alpha", 1.0)),
                    float(attr(node, "beta", 1.0)), n_axis=0 if attr(node, "transB", 0) else 1)


@converter("MatMul")
def convert_matmul(b: Builder, node: NodeProto) -> None:
    w = b.input(1)
    if not w.is_const or len(w.shape) not in (1, 2):
        raise b.refuse("the second input must be a constant matrix or vector (FULLY_CONNECTED weights); "
                       "MatMul of run-time tensors or batched matrices is not supported")
    if len(w.shape) == 1:  # a matrix-vector product: one output feature, the axis dropped
        w = Value(w.name, w.shape + (1,), const=w.const.reshape(-1, 1),
                  qconst=None if w.qconst is None else (w.qconst[0].reshape(-1, 1), w.qconst[1]))
    bias, name = _following_bias(b, node.output[0], w.shape[1])
    fully_connected(b, node, b.input(0), w, bias, 1.0, 1.0, n_axis=1, name=name)


def _following_bias(b: Builder, name: str, features: int) -> tuple[Value | None, str]:
    """An Add of a constant vector that alone reads a MatMul's result (PyTorch's Linear on 3-D input)
    becomes the FULLY_CONNECTED bias."""
    add = b.sole_consumer(name, ("Add",))
    other = [b.values.get(i) for i in add.input if i != name] if add is not None else []
    if len(other) != 1 or other[0] is None or not other[0].is_const or other[0].const.size != features \
            or other[0].const.shape[-1:] != (features,) or other[0].qconst is not None:
        return None, name
    b.done.add(id(add))
    return other[0], add.output[0]


def fully_connected(b: Builder, node: NodeProto, a: Value, w: Value, c: Value | None, alpha: float,
                    beta: float, n_axis: int, name: str | None = None) -> None:
    k = a.shape[-1]
    rows = int(np.prod(a.shape[:-1], dtype=np.int64))
    sigma = None if a.layout.keeps_memory_order() else gemm_columns(a.layout, rows, k)
    name, activation, bn = fuse_following(b, name or node.output[0], w.qconst is None)
    qt = quant_target(b, name, [a])
    if qt is not None and (alpha != 1.0 or beta != 1.0):
        raise b.refuse("alpha and beta must be 1 in an int8 Gemm")
    wdata = _weights(b, w, qt, "the weights")
    wmat = wdata.T if n_axis == 1 else wdata  # [N, K]
    if qt is None:
        wmat = wmat * np.float32(alpha)
    out_n = wmat.shape[0]
    bias_f, matrix_bias = None, None
    if c is not None:
        rows_c = np.broadcast_to(c.const, (rows, out_n))
        if np.all(rows_c == rows_c[0]):
            bias_f = (np.float32(beta) * rows_c[0]).astype(np.float32)
        elif qt is None and bn is None:  # added after the FULLY_CONNECTED, by an ADD
            matrix_bias, c = Value(c.name, (rows, out_n), const=np.float32(beta) * rows_c), None
        else:
            raise b.refuse("a bias C that differs between rows needs float and no batch norm")
    if bn is not None:
        wmat, bias_f = fold_batch_norm(b, bn, wmat, bias_f)
    if sigma is not None:
        xt, wmat = b.ir(a, a.layout, a.tensor.shape, act_dtype(qt)), wmat[:, sigma]
    else:
        xt = b.ir(a, Layout.identity(a.shape), dtype=act_dtype(qt))
    if qt and w.qconst[1].per_channel and w.qconst[1].axis != n_axis:
        raise b.refuse("int8 weights must be quantized per output channel")
    w_quant = weight_quant(w, {n_axis: 0}) if qt else None
    wt = b.const_tensor(np.ascontiguousarray(wmat), w.name, "int8" if qt else "float32", w_quant)
    bt = _bias_tensor(b, c, bias_f, xt, w_quant, out_n, qt)
    shape = out_shape(b, node.output[0])
    fc_name = name if matrix_bias is None else name + "_product"
    out = output(b, fc_name, shape, Layout.identity(shape), shape, qt)
    b.emit("FULLY_CONNECTED", [xt, wt, bt], [out], activation=activation if matrix_bias is None else "NONE",
           weights_format=0, keep_num_dims=len(shape) > 2)
    if matrix_bias is not None:
        binary(b, node, "ADD", b.values[fc_name], matrix_bias, name, activation=activation)


# ---- pooling ----------------------------------------------------------------------------------

@converter("MaxPool", "AveragePool")
def convert_pool(b: Builder, node: NodeProto) -> None:
    x = b.input(0)
    rank = len(x.shape)
    x = as_2d(b, x, "pooling")
    if len(node.output) > 1 and node.output[1]:
        raise b.refuse("the Indices output of MaxPool is not supported")
    kernel = spatial_attrs(node, "kernel_shape", 1, rank)
    stride = spatial_attrs(node, "strides", 1, rank)
    if set(attr(node, "dilations", [1])) != {1}:
        raise b.refuse("dilated pooling is not supported")
    pads = node_pads(b, node, x, rank, kernel, stride, (1, 1))
    name = node.output[0]
    qt = quant_target(b, name, [x])
    xt = b.ir(x, Layout.nhwc(x.shape), dtype=act_dtype(qt))
    if node.op_type == "AveragePool" and attr(node, "count_include_pad", 0) and any(pads):
        if attr(node, "ceil_mode", 0):
            raise b.refuse("count_include_pad=1 with ceil_mode=1 is not supported")
        # The kernel averages over valid taps only; zeros padded first make every tap valid.
        top, left, bottom, right = pads
        n, h, w_, c = xt.shape
        padded = b.like(xt, (n, h + top + bottom, w_ + left + right, c), "pad")
        paddings = np.array([[0, 0], [top, bottom], [left, right], [0, 0]], np.int32)
        b.emit("PAD", [xt, b.const_tensor(paddings, "paddings")], [padded])
        xt, pads = padded, (0, 0, 0, 0)
    shape = out_shape(b, name)
    shape4 = shape if rank == 4 else shape[:2] + (1,) + shape[2:]
    layout = Layout.nhwc(shape4)
    out = output(b, name, shape4, layout, layout.permuted_shape(), qt)
    define_1d(b, out, rank, shape)
    op_type = "MAX_POOL_2D" if node.op_type == "MaxPool" else "AVERAGE_POOL_2D"
    emit_copying(b, op_type, [xt], out, filter=kernel, stride=stride, pads=pads, activation="NONE")


@converter("BatchNormalization")
def convert_batch_norm(b: Builder, node: NodeProto) -> None:
    """A batch norm with no Conv/Gemm before it to fold into: x * s + (beta - mean * s), per channel."""
    if attr(node, "training_mode", 0) or any(o for o in node.output[1:]):
        raise b.refuse("training mode (running statistics outputs) is not supported")
    x = b.as_float(b.input(0))
    gamma, beta, mean, var = (b.const_input(i, "the statistics").astype(np.float64) for i in range(1, 5))
    scale = gamma / np.sqrt(var + float(attr(node, "epsilon", 1e-5)))
    shape = (1, -1) + (1,) * (len(x.shape) - 2)
    s = Value("bn_scale", (), const=scale.astype(np.float32).reshape(shape))
    s.shape = s.const.shape
    t = Value("bn_shift", (), const=(beta - mean * scale).astype(np.float32).reshape(shape))
    t.shape = t.const.shape
    scaled = binary(b, node, "MUL", x, s, node.output[0] + "_scaled")
    binary(b, node, "ADD", scaled, t, node.output[0])


@converter("GlobalMaxPool")
def convert_global_max_pool(b: Builder, node: NodeProto) -> None:
    """A MAX_POOL_2D whose window is the whole image."""
    x = as_2d(b, b.input(0), "pooling")
    qt = quant_target(b, node.output[0], [x])
    xt = b.ir(x, Layout.nhwc(x.shape), dtype=act_dtype(qt))
    shape = out_shape(b, node.output[0])
    shape4 = x.shape[:2] + (1, 1)
    layout = Layout.nhwc(shape4)
    out = output(b, node.output[0], shape4, layout, layout.permuted_shape(), qt)
    define_1d(b, out, len(shape), shape)
    emit_copying(b, "MAX_POOL_2D", [xt], out, filter=tuple(x.shape[2:]), stride=(1, 1), pads=(0, 0, 0, 0),
                 activation="NONE")
