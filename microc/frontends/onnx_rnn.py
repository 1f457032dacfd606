"""ONNX LSTM onto the recurrent path: one float32 UNIDIRECTIONAL_SEQUENCE_LSTM (docs/recurrent.md).

ONNX packs each gate's weights and biases in the order i, o, f, c; TFLite's operator takes them as
separate inputs (input gate 1/5/12, forget 2/6/13, cell 3/7/14, output 4/8/15), and ONNX's two biases
(input and recurrent, B = [Wb, Rb]) are both added, so their sum is TFLite's one bias. An ONNX LSTM
starts every run from a zero state, where TFLite's state tensors carry over between invocations: the op
gets `reset_state`, and its lowering zeroes the state before each run (as onnxruntime's does).
"""
from __future__ import annotations

import numpy as np
from onnx import NodeProto

from microc.frontends.onnx_graph import Builder
from microc.frontends.onnx_layout import Layout
from microc.frontends.onnx_ops import converter, out_shape
from microc.frontends.onnx_qdq import attr

_ONNX_GATES = "iofc"
_TFLITE_GATES = "ifco"  # the order of TFLite's inputs 1-4, 5-8 and 12-15
_DEFAULT_ACTS = ["Sigmoid", "Tanh", "Tanh"]


def _refused_attribute(node: NodeProto) -> str | None:
    """The first attribute outside what the float LSTM kernel computes, described; None if all fit."""
    direction = attr(node, "direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    if direction != "forward":
        return f"direction={direction} is not supported (forward only)"
    acts = [a.decode() if isinstance(a, bytes) else a for a in attr(node, "activations", _DEFAULT_ACTS)]
    if acts != _DEFAULT_ACTS:
        return f"activations={','.join(acts)} are not supported (Sigmoid, Tanh, Tanh only)"
    for name in ("clip", "activation_alpha", "activation_beta"):
        if attr(node, name) is not None:
            return f"{name} is not supported"
    if attr(node, "input_forget", 0):
        return "input_forget=1 is not supported"
    if attr(node, "layout", 0) != 0:  # the kernel runs it, but onnxruntime, the reference, cannot
        return f"layout={attr(node, 'layout')} (batch-major) is not supported (layout=0 only)"
    return None


def _zero_state(b: Builder, i: int, what: str) -> None:
    if i >= len(b.node.input) or not b.node.input[i]:
        return
    v = b.input(i)
    if not v.is_const or np.any(v.const):
        raise b.refuse(f"{what} must be absent or a constant zero (the kernel starts from a zero state)")


@converter("LSTM")
def convert_lstm(b: Builder, node: NodeProto) -> None:
    why = _refused_attribute(node)
    if why:
        raise b.refuse(why)
    for i, what in ((4, "sequence_lens"), (7, "P (peepholes)")):
        if len(node.input) > i and node.input[i]:
            raise b.refuse(f"input {what} is not supported")
    _zero_state(b, 5, "initial_h")
    _zero_state(b, 6, "initial_c")
    x = b.input(0)
    if x.dequantized:
        raise b.refuse("a quantized (QDQ) LSTM is not supported (float32 only)")
    w, r = b.const_input(1, "W")[0], b.const_input(2, "R")[0]  # one direction: [4H, I], [4H, H]
    units = r.shape[-1]
    bias = b.const_input(3, "B")
    bias = np.zeros(4 * units, np.float32) if bias is None else bias[0][:4 * units] + bias[0][4 * units:]
    batches = x.shape[1]  # layout 0: [seq, batch, features], TFLite's time-major
    gate = lambda data, g: data[_ONNX_GATES.index(g) * units:(_ONNX_GATES.index(g) + 1) * units]  # noqa: E731
    weights = [b.const_tensor(gate(w, g), "lstm_w", "float32") for g in _TFLITE_GATES]
    recurrent = [b.const_tensor(gate(r, g), "lstm_r", "float32") for g in _TFLITE_GATES]
    biases = [b.const_tensor(gate(bias, g), "lstm_b", "float32") for g in _TFLITE_GATES]
    name = node.output[0] or f"lstm{b.node_index}"  # Y may be absent
    hidden, cell = [b.tensor(f"{name}_{s}", (batches, units), "float32") for s in "hc"]
    hidden.variable = cell.variable = True
    seq = b.tensor(f"{name}_seq", (*x.shape[:2], units), "float32")
    inputs = [b.ir(x, dtype="float32"), *weights, *recurrent, None, None, None, *biases,
              None, None, hidden, cell, None, None, None, None]
    b.emit("UNIDIRECTIONAL_SEQUENCE_LSTM", inputs, [seq], activation="TANH", cell_clip=0.0, proj_clip=0.0,
           time_major=True, reset_state=True)
    outs = list(node.output) + [""] * (3 - len(node.output))
    if outs[0]:
        _define(b, outs[0], b.reshape(seq, out_shape(b, outs[0])))
    if outs[1]:  # Y_h: the last time step of Y
        _define(b, outs[1], _last_step(b, seq, out_shape(b, outs[1])))
    if outs[2]:  # Y_c: the cell state the kernel leaves after the last step
        _define(b, outs[2], b.reshape(cell, out_shape(b, outs[2])))


def _last_step(b: Builder, seq, shape):
    begin = [seq.shape[0] - 1, 0, 0]
    end = [seq.shape[0], seq.shape[1], seq.shape[2]]
    out = b.like(seq, shape, "last")
    consts = [b.const_tensor(np.array(v, np.int32), n) for v, n in ((begin, "begin"), (end, "end"),
                                                                     ([1, 1, 1], "strides"))]
    b.emit("STRIDED_SLICE", [seq, *consts], [out], begin_mask=0, end_mask=0, ellipsis_mask=0,
           new_axis_mask=0, shrink_axis_mask=0, offset=False)
    return out


def _define(b: Builder, name: str, t) -> None:
    b.define(name, t.shape, t, Layout.identity(t.shape))
