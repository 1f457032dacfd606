"""The step builder that an ONNX GRU (always) and an ONNX LSTM (when quantizing) are unrolled with: each
time step emitted as TFLite builtins (docs/recurrent.md says why), the per-cell arithmetic left to
microc.frontends.onnx_gru and microc.frontends.onnx_rnn.

The input's gate products are computed for all steps at once (one FULLY_CONNECTED over [seq x batch,
input], biases folded in) and split per step (SPLIT_V on the time axis). Products with a constant state
(the initial state: zero when absent) are computed here, in numpy, and terms that are zero are left out,
so a zero-state first step has no recurrent FULLY_CONNECTED. Every op is a builtin, so the float graph
exports to .tflite and `microc quantize` makes it int8 or 16x8, verified bit-exact against TFLite Micro.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from microc.frontends.onnx_graph import Builder
from microc.ir import Tensor

if TYPE_CHECKING:
    from microc.frontends.onnx_rnn import Recurrence


def initial_states(b: Builder, rec: Recurrence, index: int) -> list:
    """Each direction's initial state [batch, H] from input `index`: a numpy constant (zeros when
    absent), or the run-time input's slice."""
    v = b.input(index)
    dirs = len(rec.reverse)
    if v is None:
        return [np.zeros((rec.batches, rec.units), np.float32)] * dirs
    if v.is_const:
        return [np.asarray(v.const[d] if rec.layout == 0 else v.const[:, d], np.float32) for d in range(dirs)]
    t = b.ir(v, dtype="float32")
    parts = split(b, t, rec.layout, [1] * dirs) if dirs > 1 else [t]
    return [b.reshape(p, (rec.batches, rec.units)) for p in parts]


def direction_outputs(b: Builder, rec: Recurrence, states: list[Tensor], reverse: bool):
    """One direction's Y (its states concatenated in time order) and its last state (Y_h or Y_c), as
    thunks for microc.frontends.onnx_rnn.define_outputs (built only for the outputs used)."""
    from microc.frontends.onnx_rnn import joined  # onnx_rnn imports this module
    shape = (rec.steps, rec.batches, rec.units) if rec.layout == 0 else (rec.batches, rec.steps, rec.units)
    return (lambda: joined(b, states, shape, rec.time_axis)), (lambda: states[0] if reverse else states[-1])


def split(b: Builder, t: Tensor, axis: int, sizes: list[int]) -> list[Tensor]:
    """t cut on `axis` into pieces of `sizes` (one SPLIT_V; t itself when there is one piece)."""
    if len(sizes) == 1:
        return [t]
    outs = [b.like(t, t.shape[:axis] + (n,) + t.shape[axis + 1:], "part") for n in sizes]
    b.emit("SPLIT_V", [t, b.const_tensor(np.array(sizes, np.int32), "sizes"),
                       b.const_tensor(np.array(axis, np.int32), "axis")], outs, num_splits=len(sizes))
    return outs


class Unrolled:
    """One direction's steps, emitted as TFLite ops; a constant operand (numpy) is folded where it can be.
    Subclasses' run() returns the states after each step, in time order."""

    def __init__(self, b: Builder, rec: Recurrence):
        self.b, self.rec = b, rec

    def steps(self, reverse: bool):
        return reversed(range(self.rec.steps)) if reverse else range(self.rec.steps)

    def per_step(self, x: Tensor, w, bias) -> list[Tensor]:
        """x's product with w (plus bias) for every step at once, then one [batch, rows of w] per step."""
        rec, b = self.rec, self.b
        rows = b.reshape(x, (rec.steps * rec.batches, x.shape[-1]))
        out = b.like(rows, (rows.shape[0], w.shape[0]), "gates")
        b.emit("FULLY_CONNECTED", [rows, b.const_tensor(w, "rnn_w", "float32"),
                                   b.const_tensor(bias, "rnn_b", "float32")], [out],
               activation="NONE", weights_format=0, keep_num_dims=False)
        seq = b.reshape(out, (*x.shape[:2], w.shape[0]))
        steps = split(b, seq, rec.time_axis, [1] * rec.steps)
        return [b.reshape(s, (rec.batches, w.shape[0])) for s in steps]

    def fc(self, h, r, bias=None):
        """h R^T (+ bias): folded when h is a constant."""
        if isinstance(h, np.ndarray):
            return h @ r.T + (0 if bias is None else bias)
        out = self.b.like(h, (h.shape[0], r.shape[0]), "rec")
        bt = None if bias is None or not np.any(bias) else self.b.const_tensor(bias, "rnn_rb", "float32")
        self.b.emit("FULLY_CONNECTED", [h, self.b.const_tensor(r, "rnn_r", "float32"), bt], [out],
                    activation="NONE", weights_format=0, keep_num_dims=False)
        return out

    def add(self, a: Tensor, c):
        return a if isinstance(c, np.ndarray) and not np.any(c) else self.op("ADD", a, c)

    def op(self, op_type: str, a, c=None):
        """A unary or binary op; a constant zero operand makes MUL zero and SUB(a, 0) a."""
        if c is None:
            out = self.b.like(a, a.shape, op_type.lower())
            self.b.emit(op_type, [a], [out])
            return out
        if isinstance(c, np.ndarray) and not np.any(c):
            return c if op_type == "MUL" else a
        if isinstance(a, np.ndarray) and not np.any(a) and op_type == "MUL":
            return a
        shape = (a if isinstance(a, Tensor) else c).shape
        ins = [self.b.const_tensor(np.broadcast_to(v, shape), "rnn_c", "float32")
               if isinstance(v, np.ndarray) else v for v in (a, c)]
        out = self.b.like(ins[0] if isinstance(a, Tensor) else ins[1], shape, op_type.lower())
        self.b.emit(op_type, ins, [out], activation="NONE")
        return out
