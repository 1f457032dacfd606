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
from microc.frontends.onnx_rnn import Recurrence, define_outputs, recurrence
from microc.frontends.onnx_unroll import Unrolled, direction_outputs, initial_states, split
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
    h0 = initial_states(b, rec, 5)
    ys, hs = [], []
    for d, rev in enumerate(rec.reverse):
        states = _Unrolled(b, rec, bool(lbr)).run(x, w[d], r[d], bias[d], h0[d], rev)
        y, h = direction_outputs(b, rec, states, rev)
        ys.append(y)
        hs.append(h)
    define_outputs(b, node, rec, ys, hs)


class _Unrolled(Unrolled):
    """One direction's GRU steps."""

    def __init__(self, b: Builder, rec: Recurrence, linear_before_reset: bool):
        super().__init__(b, rec)
        self.lbr = linear_before_reset

    def run(self, x: Tensor, w, r, bias, h, reverse: bool) -> list[Tensor]:
        """The hidden state after each step, in time order."""
        rec, units = self.rec, self.rec.units
        wb, rb = bias[:3 * units], bias[3 * units:]
        rb_h = rb[2 * units:] if self.lbr else np.zeros(units, np.float32)  # else folded into xh
        xzr = self.per_step(x, w[:2 * units], wb[:2 * units] + rb[:2 * units])
        xh = self.per_step(x, w[2 * units:], wb[2 * units:] + rb[2 * units:] - rb_h)
        r_zr, r_h = r[:2 * units], r[2 * units:]
        states = {}
        for t in self.steps(reverse):
            z, g = split(self.b, self.op("LOGISTIC", self.add(xzr[t], self.fc(h, r_zr))), 1, [units, units])
            if self.lbr:
                n = self.add(xh[t], self.op("MUL", g, self.fc(h, r_h, rb_h)))
            else:
                n = self.add(xh[t], self.fc(self.op("MUL", g, h), r_h))
            n = self.op("TANH", n)
            h = states[t] = self.op("SUB", n, self.op("MUL", z, self.op("SUB", n, h)))
        return [states[t] for t in range(rec.steps)]
