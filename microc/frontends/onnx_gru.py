"""ONNX GRU, unrolled over time into TFLite operators (docs/recurrent.md says why).

Per direction: the input's gate products for all steps at once (two FULLY_CONNECTED over [seq x batch,
input]: the update and reset gates' rows z, r, and the candidate's rows h, their biases folded in),
split per step (SPLIT_V on the time axis); then each step, with H the previous hidden state:
    z, r = split(LOGISTIC(xzr_t + H Rzr^T))
    linear_before_reset=0: n = TANH(xh_t + (r * H) Rh^T)          (Rbh folded into xh)
    linear_before_reset=1: n = TANH(xh_t + r * (H Rh^T + Rbh))
    H' = n - z * (n - H)                                             (= (1 - z) * n + z * H)
Products with a constant H (the initial state: zero when absent) are computed here, in numpy, and
terms that are zero are left out, so the first step of a zero-state GRU is LOGISTIC, TANH, MUL, SUB.
Y is the steps' H concatenated in time order, Y_h the last step's H (microc.frontends.onnx_rnn).
Every op is a TFLite builtin, so the float graph exports to .tflite and `microc quantize` makes it int8,
verified bit-exact against TFLite Micro like any other int8 model.
"""
from __future__ import annotations

import numpy as np
from onnx import NodeProto

from microc.frontends.onnx_graph import Builder
from microc.frontends.onnx_ops import converter
from microc.frontends.onnx_qdq import attr
from microc.frontends.onnx_rnn import Recurrence, define_outputs, joined, recurrence
from microc.ir import Tensor


@converter("GRU")
def convert_gru(b: Builder, node: NodeProto) -> None:
    rec = recurrence(b, node)
    lbr = attr(node, "linear_before_reset", 0)
    if lbr not in (0, 1):
        raise b.refuse(f"linear_before_reset={lbr} is not supported (0 or 1)")
    x = b.ir(b.input(0), dtype="float32")
    w, r = b.const_input(1, "W"), b.const_input(2, "R")  # [D, 3H, I], [D, 3H, H]; gates z, r, h
    bias = b.const_input(3, "B")
    bias = np.zeros((len(rec.reverse), 6 * rec.units), np.float32) if bias is None else bias
    h0 = _initial_states(b, rec)
    ys, hs = [], []
    for d, rev in enumerate(rec.reverse):
        states = _Unrolled(b, rec, bool(lbr)).run(x, w[d], r[d], bias[d], h0[d], rev)
        per_dir = (rec.steps, rec.batches, rec.units) if rec.layout == 0 else (rec.batches, rec.steps, rec.units)
        ys.append(lambda states=states, shape=per_dir: joined(b, states, shape, rec.time_axis))
        hs.append(lambda last=states[0] if rev else states[-1]: last)
    define_outputs(b, node, rec, ys, hs)


def _initial_states(b: Builder, rec: Recurrence) -> list:
    """Each direction's initial hidden state [batch, H]: a numpy constant (zeros when absent), or the
    run-time input's slice."""
    v = b.input(5)
    dirs = len(rec.reverse)
    if v is None:
        return [np.zeros((rec.batches, rec.units), np.float32)] * dirs
    if v.is_const:
        return [np.asarray(v.const[d] if rec.layout == 0 else v.const[:, d], np.float32) for d in range(dirs)]
    t = b.ir(v, dtype="float32")
    parts = _split(b, t, rec.layout, [1] * dirs) if dirs > 1 else [t]
    return [b.reshape(p, (rec.batches, rec.units)) for p in parts]


def _split(b: Builder, t: Tensor, axis: int, sizes: list[int]) -> list[Tensor]:
    """t cut on `axis` into pieces of `sizes` (one SPLIT_V; t itself when there is one piece)."""
    if len(sizes) == 1:
        return [t]
    outs = [b.like(t, t.shape[:axis] + (n,) + t.shape[axis + 1:], "part") for n in sizes]
    b.emit("SPLIT_V", [t, b.const_tensor(np.array(sizes, np.int32), "sizes"),
                       b.const_tensor(np.array(axis, np.int32), "axis")], outs, num_splits=len(sizes))
    return outs


class _Unrolled:
    """One direction's steps, emitted as TFLite ops; a constant operand (numpy) is folded where it can be."""

    def __init__(self, b: Builder, rec: Recurrence, linear_before_reset: bool):
        self.b, self.rec, self.lbr = b, rec, linear_before_reset

    def run(self, x: Tensor, w, r, bias, h, reverse: bool) -> list[Tensor]:
        """The hidden state after each step, in time order."""
        rec, units = self.rec, self.rec.units
        wb, rb = bias[:3 * units], bias[3 * units:]
        rb_h = rb[2 * units:] if self.lbr else np.zeros(units, np.float32)  # else folded into xh
        xzr = self._per_step(x, w[:2 * units], wb[:2 * units] + rb[:2 * units])
        xh = self._per_step(x, w[2 * units:], wb[2 * units:] + rb[2 * units:] - rb_h)
        r_zr, r_h = r[:2 * units], r[2 * units:]
        states = {}
        for t in (reversed(range(rec.steps)) if reverse else range(rec.steps)):
            z, g = _split(self.b, self.op("LOGISTIC", self.add(xzr[t], self.fc(h, r_zr))), 1, [units, units])
            if self.lbr:
                n = self.add(xh[t], self.op("MUL", g, self.fc(h, r_h, rb_h)))
            else:
                n = self.add(xh[t], self.fc(self.op("MUL", g, h), r_h))
            n = self.op("TANH", n)
            h = states[t] = self.op("SUB", n, self.op("MUL", z, self.op("SUB", n, h)))
        return [states[t] for t in range(rec.steps)]

    def _per_step(self, x: Tensor, w, bias) -> list[Tensor]:
        """x's product with w (plus bias) for every step at once, then one [batch, rows of w] per step."""
        rec, b = self.rec, self.b
        rows = b.reshape(x, (rec.steps * rec.batches, x.shape[-1]))
        out = b.like(rows, (rows.shape[0], w.shape[0]), "gates")
        b.emit("FULLY_CONNECTED", [rows, b.const_tensor(w, "gru_w", "float32"),
                                   b.const_tensor(bias, "gru_b", "float32")], [out],
               activation="NONE", weights_format=0, keep_num_dims=False)
        seq = b.reshape(out, (*x.shape[:2], w.shape[0]))
        steps = _split(b, seq, rec.time_axis, [1] * rec.steps)
        return [b.reshape(s, (rec.batches, w.shape[0])) for s in steps]

    def fc(self, h, r, bias=None):
        """h R^T (+ bias): folded when h is a constant."""
        if isinstance(h, np.ndarray):
            return h @ r.T + (0 if bias is None else bias)
        out = self.b.like(h, (h.shape[0], r.shape[0]), "rec")
        bt = None if bias is None or not np.any(bias) else self.b.const_tensor(bias, "gru_rb", "float32")
        self.b.emit("FULLY_CONNECTED", [h, self.b.const_tensor(r, "gru_r", "float32"), bt], [out],
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
        ins = [self.b.const_tensor(np.broadcast_to(v, shape), "gru_c", "float32")
               if isinstance(v, np.ndarray) else v for v in (a, c)]
        out = self.b.like(ins[0] if isinstance(a, Tensor) else ins[1], shape, op_type.lower())
        self.b.emit(op_type, ins, [out], activation="NONE")
        return out
