"""ONNX LSTM and GRU onto the recurrent path (docs/recurrent.md, docs/onnx.md).

What the two share is here: the attributes microc computes (direction, layout, the default activations)
and the refusal of the rest, the reversal of a sequence in time (a GATHER with constant coordinates), and
the assembly of Y, Y_h and Y_c from the directions' results (RESHAPEs and a CONCATENATION on the
num_directions axis). Layout 0 is [seq, batch, ...] (TFLite's time-major), layout 1 [batch, seq, ...].

LSTM: one float32 UNIDIRECTIONAL_SEQUENCE_LSTM per direction. ONNX packs each gate's weights and biases
in the order i, o, f, c; TFLite's operator takes them as separate inputs (input gate 1/5/12, forget
2/6/13, cell 3/7/14, output 4/8/15), and ONNX's two biases (input and recurrent, B = [Wb, Rb]) are both
added, so their sum is TFLite's one bias. An ONNX LSTM starts every run from its initial state (zero,
or constant initial_h/initial_c), where TFLite's state tensors carry over between invocations: the op
gets `reset_state` (and the constants as `initial_h`/`initial_c`), and its lowering sets the state
before each run (as onnxruntime's does). The reverse direction runs the same kernel on
the input reversed in time; its Y is reversed back. Such an op has no .tflite form, so for `microc
quantize` (Builder.unroll_lstm) the LSTM is unrolled over time into builtins instead, with the GRU's
step builder (microc.frontends.onnx_unroll). GRU: microc.frontends.onnx_gru.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import NodeProto

from microc.codegen.ops.shape import MAX_CONCAT_INPUTS  # the kernel's limit, which the import respects
from microc.frontends.onnx_graph import Builder
from microc.frontends.onnx_layout import Layout
from microc.frontends.onnx_ops import converter
from microc.frontends.onnx_qdq import attr
from microc.frontends.onnx_unroll import Unrolled, direction_outputs, initial_states, split
from microc.ir import Tensor

_ONNX_GATES = "iofc"
_TFLITE_GATES = "ifco"  # the order of TFLite's inputs 1-4, 5-8 and 12-15
_DEFAULT_ACTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}
_DIRECTIONS = {"forward": [False], "reverse": [True], "bidirectional": [False, True]}


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else v


@dataclass
class Recurrence:
    """What an LSTM or GRU node asks for: one reverse flag per direction, the layout, its sizes."""
    reverse: list[bool]
    layout: int
    steps: int
    batches: int
    units: int

    @property
    def time_axis(self) -> int:
        return self.layout  # 0: [seq, batch, ...]; 1: [batch, seq, ...]

    def y_shape(self) -> tuple[int, ...]:
        d, s, n, h = len(self.reverse), self.steps, self.batches, self.units
        return (s, d, n, h) if self.layout == 0 else (n, s, d, h)

    def state_shape(self) -> tuple[int, ...]:
        d, n, h = len(self.reverse), self.batches, self.units
        return (d, n, h) if self.layout == 0 else (n, d, h)


def recurrence(b: Builder, node: NodeProto) -> Recurrence:
    """The node's directions and layout, or a one-line refusal naming the first attribute (or input)
    outside what microc computes."""
    direction = _text(attr(node, "direction", b"forward"))
    if direction not in _DIRECTIONS:
        raise b.refuse(f"direction={direction} is not supported (forward, reverse, bidirectional)")
    reverse = _DIRECTIONS[direction]
    default = _DEFAULT_ACTS[node.op_type] * len(reverse)
    acts = [_text(a) for a in attr(node, "activations", default)]
    if acts != default:
        raise b.refuse(f"activations={','.join(acts)} are not supported ({', '.join(default)} only)")
    for name in ("clip", "activation_alpha", "activation_beta"):
        if attr(node, name) is not None:
            raise b.refuse(f"{name} is not supported")
    layout = attr(node, "layout", 0)
    if layout not in (0, 1):
        raise b.refuse(f"layout={layout} is not supported (0 or 1)")
    x = b.input(0)
    if x.dequantized:
        raise b.refuse(f"a quantized (QDQ) {node.op_type} is not supported (float32 only)")
    steps, batches = x.shape[:2] if layout == 0 else x.shape[1::-1]
    rec = Recurrence(reverse, layout, steps, batches, int(attr(node, "hidden_size", 0)) or
                     b.const_input(2, "R").shape[-1])
    lens = b.input(4)
    if lens is not None:
        if not lens.is_const:
            raise b.refuse("sequence_lens must be a constant (it is computed at run time)")
        if np.any(lens.const != steps):
            raise b.refuse(f"sequence_lens {lens.const.tolist()} is not supported (only the full length, {steps})")
    return rec


def reversed_in_time(b: Builder, t: Tensor, rec: Recurrence) -> Tensor:
    """t with its time axis reversed (a GATHER of constant coordinates)."""
    n = t.shape[rec.time_axis]
    if n == 1:
        return t
    out = b.like(t, t.shape, "rev")
    coords = b.const_tensor(np.arange(n - 1, -1, -1, dtype=np.int32), "reverse")
    b.emit("GATHER", [t, coords], [out], axis=rec.time_axis, batch_dims=0)
    return out


def joined(b: Builder, parts: list[Tensor], shape, axis: int) -> Tensor:
    """Equal parts (any shape of the right size) stacked on `axis` of `shape`: reshaped, concatenated."""
    piece = list(shape)
    piece[axis] //= len(parts)
    return _concatenated(b, [b.reshape(p, piece) for p in parts], axis)


def _concatenated(b: Builder, ins: list[Tensor], axis: int) -> Tensor:
    """One CONCATENATION, or a tree of them where there are more inputs than TFLM's kernel takes."""
    if len(ins) == 1:
        return ins[0]
    if len(ins) > MAX_CONCAT_INPUTS:
        size = -(-len(ins) // MAX_CONCAT_INPUTS)
        return _concatenated(b, [_concatenated(b, ins[i:i + size], axis) for i in range(0, len(ins), size)], axis)
    shape = list(ins[0].shape)
    shape[axis] = sum(t.shape[axis] for t in ins)
    out = b.like(ins[0], shape, "cat")
    b.emit("CONCATENATION", ins, [out], axis=axis, activation="NONE")
    return out


def define_outputs(b: Builder, node: NodeProto, rec: Recurrence, ys, hs, cs=None) -> None:
    """Y (per direction: its sequence in time order, as [seq, batch, H] or [batch, seq, H]), Y_h and
    Y_c (per direction: [batch, H]) for the node's outputs that are used."""
    outs = list(node.output) + [""] * (3 - len(node.output))
    dir_axis = 1 if rec.layout == 0 else 2
    for name, parts, shape, axis in ((outs[0], ys, rec.y_shape(), dir_axis),
                                     (outs[1], hs, rec.state_shape(), rec.layout),
                                     (outs[2], cs, rec.state_shape(), rec.layout)):
        if name:
            t = joined(b, [p() for p in parts], shape, axis)
            b.define(name, t.shape, t, Layout.identity(t.shape))


def _initial_state(b: Builder, i: int, what: str, rec: Recurrence) -> list:
    """Each direction's constant initial state [batch, H] (float32), or None where it is zero."""
    v = b.input(i)
    if v is None:
        return [None] * len(rec.reverse)
    if not v.is_const:
        raise b.refuse(f"{what} must be absent or a constant (the state is set before each run)")
    data = np.asarray(v.const, np.float32)
    per_dir = [data[d] if rec.layout == 0 else data[:, d] for d in range(len(rec.reverse))]
    return [np.ascontiguousarray(s) if np.any(s) else None for s in per_dir]


@converter("LSTM")
def convert_lstm(b: Builder, node: NodeProto) -> None:
    rec = recurrence(b, node)
    if attr(node, "input_forget", 0):
        raise b.refuse("input_forget=1 is not supported")
    if len(node.input) > 7 and node.input[7]:
        raise b.refuse("input P (peepholes) is not supported")
    x = b.ir(b.input(0), dtype="float32")
    w, r = b.const_input(1, "W"), b.const_input(2, "R")  # [D, 4H, I], [D, 4H, H]
    units = rec.units
    bias = b.const_input(3, "B")
    bias = np.zeros((len(rec.reverse), 8 * units), np.float32) if bias is None else bias
    if b.unroll_lstm:
        return _unrolled_lstm(b, node, rec, x, w, r, bias[:, :4 * units] + bias[:, 4 * units:])
    h0, c0 = _initial_state(b, 5, "initial_h", rec), _initial_state(b, 6, "initial_c", rec)
    name = node.output[0] or f"lstm{b.node_index}"  # Y may be absent
    ys, hs, cs = [], [], []
    for d, rev in enumerate(rec.reverse):
        seq, hidden, cell = _lstm(b, rec, reversed_in_time(b, x, rec) if rev else x, w[d], r[d],
                                  bias[d][:4 * units] + bias[d][4 * units:], f"{name}_{d}", h0[d], c0[d])
        ys.append(lambda seq=seq, rev=rev: reversed_in_time(b, seq, rec) if rev else seq)
        hs.append(lambda hidden=hidden: hidden)  # the hidden state after the last step: Y_h
        cs.append(lambda cell=cell: cell)
    define_outputs(b, node, rec, ys, hs, cs)


def _lstm(b: Builder, rec: Recurrence, x: Tensor, w, r, bias, name: str, h0, c0):
    """One direction's UNIDIRECTIONAL_SEQUENCE_LSTM over x, from the state h0, c0 (None: zero): its
    output sequence, hidden and cell state."""
    units = rec.units
    gate = lambda data, g: data[_ONNX_GATES.index(g) * units:(_ONNX_GATES.index(g) + 1) * units]  # noqa: E731
    weights = [b.const_tensor(gate(w, g), "lstm_w", "float32") for g in _TFLITE_GATES]
    recurrent = [b.const_tensor(gate(r, g), "lstm_r", "float32") for g in _TFLITE_GATES]
    biases = [b.const_tensor(gate(bias, g), "lstm_b", "float32") for g in _TFLITE_GATES]
    hidden, cell = [b.tensor(f"{name}_{s}", (rec.batches, units), "float32") for s in "hc"]
    hidden.variable = cell.variable = True
    seq = b.tensor(f"{name}_seq", (*x.shape[:2], units), "float32")
    inputs = [x, *weights, *recurrent, None, None, None, *biases,
              None, None, hidden, cell, None, None, None, None]
    initial = {k: v for k, v in (("initial_h", h0), ("initial_c", c0)) if v is not None}
    b.emit("UNIDIRECTIONAL_SEQUENCE_LSTM", inputs, [seq], activation="TANH", cell_clip=0.0, proj_clip=0.0,
           time_major=rec.layout == 0, reset_state=True, **initial)
    return seq, hidden, cell


def _unrolled_lstm(b: Builder, node: NodeProto, rec: Recurrence, x: Tensor, w, r, bias) -> None:
    """The LSTM unrolled over time into builtins (microc.frontends.onnx_unroll), for `microc quantize`:
    TFLM can calibrate and verify it, where it cannot an LSTM kernel whose state resets every run."""
    h0, c0 = initial_states(b, rec, 5), initial_states(b, rec, 6)
    ys, hs, cs = [], [], []
    for d, rev in enumerate(rec.reverse):
        hidden, cell = _LstmSteps(b, rec).run(x, w[d], r[d], bias[d], h0[d], c0[d], rev)
        y, h = direction_outputs(b, rec, hidden, rev)
        ys.append(y)
        hs.append(h)
        cs.append(direction_outputs(b, rec, cell, rev)[1])
    define_outputs(b, node, rec, ys, hs, cs)


class _LstmSteps(Unrolled):
    """One direction's LSTM steps, gates in ONNX's order i, o, f, c (the sigmoid gates first):
        i, o, f = split(LOGISTIC(s_t)), g = TANH(c_t) where s_t, c_t = split(x_t W^T + H R^T + Wb + Rb)
        C' = i * g + f * C,  H' = o * TANH(C')
    """

    def run(self, x: Tensor, w, r, bias, h, c, reverse: bool) -> tuple[list[Tensor], list[Tensor]]:
        """The hidden and cell states after each step, in time order."""
        units, b = self.rec.units, self.b
        xs = self.per_step(x, w, bias)
        hidden, cell = {}, {}
        for t in self.steps(reverse):
            s, g = split(b, self.add(xs[t], self.fc(h, r)), 1, [3 * units, units])
            i, o, f = split(b, self.op("LOGISTIC", s), 1, [units] * 3)
            c = cell[t] = self.add(self.op("MUL", i, self.op("TANH", g)), self.op("MUL", f, c))
            h = hidden[t] = self.op("MUL", o, self.op("TANH", c))
        return [hidden[t] for t in range(self.rec.steps)], [cell[t] for t in range(self.rec.steps)]
