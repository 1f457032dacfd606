"""SVDF and UNIDIRECTIONAL_SEQUENCE_LSTM (runtime_c/include/mc_recurrent.h): operators whose state, a
variable tensor, lives in the model's persistent region and carries over between invokes."""
from __future__ import annotations

import numpy as np

from microc.codegen.lowering import LoweringContext, c_float, lowering, unsupported
from microc.codegen.ops.common import act_fields
from microc.codegen.ops.conv import row_blocks
from microc.codegen.quant import quantize_multiplier, tflite_round
from microc.ir import Op, Tensor


def _f32_ratio(a: float, b: float, c: float) -> float:
    """a * b / c as TFLM computes a scale ratio from tensor scales: in float32, then widened to double."""
    return float(np.float32(a) * np.float32(b) / np.float32(c))


def _state(op: Op, position: int) -> Tensor:
    t = op.inputs[position] if position < len(op.inputs) else None
    if t is None or not t.variable:
        raise unsupported(op, f"input {position} (the state) must be a variable tensor")
    return t


def _svdf_scratch(op: Op, schedule=None) -> int:
    """The integer kernel's feature accumulators: filters int32."""
    return 4 * op.inputs[1].shape[0] if op.inputs[0].dtype == "int8" and len(op.inputs[1].shape) == 2 else 0


@lowering("SVDF", scratch_bytes=_svdf_scratch)
def lower_svdf(op: Op, ctx: LoweringContext) -> str:
    x, wf, wt = op.inputs[:3]
    bias = op.inputs[3] if len(op.inputs) > 3 else None
    state, out = _state(op, 4), op.outputs[0]
    if bias is None:  # TFLM reads the bias unconditionally (its issue #1751): nothing to verify against
        raise unsupported(op, "an SVDF without a bias is not supported (TFLM cannot run one either)")
    rank = op.attrs.get("rank", 0)
    if len(x.shape) != 2 or len(wf.shape) != 2 or len(wt.shape) != 2 or not wf.is_const or not wt.is_const:
        raise unsupported(op, "input, feature and time weights must be 2-D, the weights constants")
    batches, inputs = x.shape
    filters, memory = wt.shape
    if rank < 1 or filters % rank or wf.shape != (filters, inputs) or \
            state.shape != (batches, filters * memory) or out.shape != (batches, filters // rank) or \
            not bias.is_const or bias.shape != (filters // rank,):
        raise unsupported(op, f"shapes do not agree (input {x.shape}, feature weights {wf.shape}, time "
                              f"weights {wt.shape}, state {state.shape}, output {out.shape}, rank {rank})")
    dims = {"batches": batches, "inputs": inputs, "filters": filters, "units": filters // rank,
            "rank": rank, "memory": memory}
    if x.dtype == "float32" and {wf.dtype, wt.dtype, state.dtype, out.dtype} == {"float32"}:
        if op.attrs.get("activation", "NONE") not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
            raise unsupported(op, f"fused activation {op.attrs['activation']} is not supported")
        p = ctx.struct("mc_svdf_f32_t", "svdf", {**dims, "weights_feature": ctx.ptr(wf),
                       "weights_time": ctx.ptr(wt), "bias": ctx.ptr(bias), **act_fields(op, out)})
        return f"mc_svdf_f32({p}, {ctx.ptr(x)}, {ctx.ptr(state)}, {ctx.ptr(out)});"
    kinds = (x.dtype, wf.dtype, wt.dtype, state.dtype, out.dtype)
    if kinds not in (("int8",) * 5, ("int8", "int8", "int16", "int16", "int8")) or \
            bias.dtype != "int32":
        raise unsupported(op, f"input, feature weights, time weights, state, output {', '.join(kinds)} "
                              "are not supported (float32; int8 with int8 or int16 time weights and state)")
    # TFLM's PrepareSvdf: both scales in float32 (the integer kernel applies no fused activation).
    m1, s1 = quantize_multiplier(_f32_ratio(x.quant.s, wf.quant.s, state.quant.s))
    m2, s2 = quantize_multiplier(_f32_ratio(state.quant.s, wt.quant.s, out.quant.s))
    feature_bias = -x.quant.zp * wf.data.astype(np.int64).sum(axis=1)
    # the state zero point folded into each unit's bias (mod 2^32, as the kernel's sums wrap)
    time_sums = wt.data.astype(np.int64).reshape(filters // rank, -1).sum(axis=1)
    time_bias = (bias.data.astype(np.int64) - state.quant.zp * time_sums + 2**31) % 2**32 - 2**31
    p = ctx.struct("mc_svdf_s8_t", "svdf", {
        **dims, "in_zp": x.quant.zp, "state_zp": state.quant.zp, "out_zp": out.quant.zp,
        "mult_feature": m1, "shift_feature": s1, "mult_out": m2, "shift_out": s2,
        "weights_feature": ctx.const(row_blocks(wf.data, 4), "wf", "int8_t", flash=True),
        "feature_bias": ctx.const(feature_bias.astype(np.int32), "bias", "int32_t", flash=True),
        "weights_time": ctx.ptr(wt), "bias": ctx.const(time_bias.astype(np.int32), "tbias", "int32_t")})
    fn = "mc_svdf_s8" if state.dtype == "int8" else "mc_svdf_s8_s16"
    return f"{fn}({p}, {ctx.ptr(x)}, {ctx.ptr(state)}, {ctx.ptr(out)}, (int32_t *){ctx.scratch()});"


# ---- UNIDIRECTIONAL_SEQUENCE_LSTM ----

# Input positions (TFLite's schema) of each gate's input weights, recurrent weights and bias, in the
# order TFLM computes the gates (forget, input, cell, output: mc_recurrent.h).
_GATES = ((2, 6, 13), (1, 5, 12), (3, 7, 14), (4, 8, 15))
_ABSENT = (9, 10, 11, 16, 17, 20, 21, 22, 23)  # peepholes, projection, layer norm: TFLM takes none
_GATE_SCALE = 2.0**-12  # the gates' FC outputs: Q3.12 int16
_ACT_SCALE = 2.0**-15  # sigmoid and tanh outputs: Q0.15


def _lstm_parts(op: Op):
    """(input, [per gate (w_in, w_rec, bias)], hidden, cell, output, rows per step) after checking."""
    if len(op.inputs) != 24:
        raise unsupported(op, f"{len(op.inputs)} inputs (24 expected)")
    present = [i for i in _ABSENT if op.inputs[i] is not None]
    if present:
        raise unsupported(op, f"inputs {present} (peepholes, projection or layer normalization) are not "
                              "supported (TFLM's kernel takes none)")
    x, out = op.inputs[0], op.outputs[0]
    hidden, cell = _state(op, 18), _state(op, 19)
    gates = [tuple(op.inputs[i] for i in g) for g in _GATES]
    if any(t is None or not t.is_const for g in gates for t in g):
        raise unsupported(op, "every gate needs constant input and recurrent weights and a bias (CIFG is "
                              "not supported)")
    if len(x.shape) != 3 or len(out.shape) != 3:
        raise unsupported(op, "input and output must be 3-D")
    time_major = op.attrs.get("time_major", False)
    steps, batches = x.shape[:2] if time_major else x.shape[1::-1]
    inputs, state = x.shape[2], gates[0][1].shape[0]
    for w_in, w_rec, bias in gates:
        if w_in.shape != (state, inputs) or w_rec.shape != (state, state) or bias.shape != (state,):
            raise unsupported(op, f"gate shapes do not agree: weights {w_in.shape} and {w_rec.shape}, bias "
                                  f"{bias.shape}, for {inputs} inputs and {state} units")
    if hidden.size != batches * state or cell.size != batches * state or \
            out.shape != (*x.shape[:2], state):
        raise unsupported(op, f"state or output shapes do not agree with input {x.shape} and {state} units")
    if op.attrs.get("activation", "TANH") != "TANH":
        raise unsupported(op, f"cell activation {op.attrs['activation']} is not supported (TANH)")
    return x, gates, hidden, cell, out, (batches if time_major else 1)


def _lstm_scratch(op: Op, schedule=None) -> int:
    """TFLM's four gate buffers; the int8 kernel's FC accumulators (units int32) after them."""
    x, gates, hidden, cell, out, rows = _lstm_parts(op)
    units = hidden.shape[-1]
    return 4 * rows * units * (2 if cell.dtype == "int16" else 4) + (4 * units if cell.dtype == "int16" else 0)


@lowering("UNIDIRECTIONAL_SEQUENCE_LSTM", scratch_bytes=_lstm_scratch)
def lower_lstm(op: Op, ctx: LoweringContext) -> str:
    x, gates, hidden, cell, out, rows = _lstm_parts(op)
    time_major = op.attrs.get("time_major", False)
    steps, batches = x.shape[:2] if time_major else x.shape[1::-1]
    dims = {"batches": batches, "time_steps": steps, "inputs": x.shape[2], "state": gates[0][1].shape[0],
            "time_major": int(time_major)}
    clip = op.attrs.get("cell_clip", 0.0)
    args = f"{ctx.ptr(x)}, {ctx.ptr(hidden)}, {ctx.ptr(cell)}, {ctx.ptr(out)}"
    if {x.dtype, hidden.dtype, cell.dtype, out.dtype, *(t.dtype for g in gates for t in g)} == {"float32"}:
        p = ctx.struct("mc_lstm_f32_t", "lstm", {
            **dims, "w_in": _stacked(ctx, gates, 0, "float"), "w_rec": _stacked(ctx, gates, 1, "float"),
            "bias": _stacked(ctx, gates, 2, "float"), "cell_clip": c_float(max(clip, 0.0))})
        return _reset(op, ctx, hidden, cell) + f"mc_lstm_f32({p}, {args}, (float *){ctx.scratch()});"
    if op.attrs.get("reset_state"):
        raise unsupported(op, "an int8 LSTM that resets its state per invocation is not supported")
    kinds = (x.dtype, hidden.dtype, cell.dtype, out.dtype)
    if kinds != ("int8", "int8", "int16", "int8") or \
            any((w_in.dtype, w_rec.dtype, b.dtype) != ("int8", "int8", "int32") for w_in, w_rec, b in gates):
        raise unsupported(op, f"input, hidden state, cell state, output {', '.join(kinds)} are not supported "
                              "(float32; int8 with an int16 cell state, int8 weights, int32 biases)")
    if any(t.quant is None or t.quant.per_channel for g in gates for t in g[:2]):
        raise unsupported(op, "weights quantized per channel are not supported (TFLM's kernel is per tensor)")
    return f"mc_lstm_s8({_lstm_s8_params(op, ctx, x, gates, hidden, cell, dims, clip)}, {args}, " \
           f"(int16_t *){ctx.scratch()});"


def _reset(op: Op, ctx: LoweringContext, hidden: Tensor, cell: Tensor) -> str:
    """An LSTM imported from ONNX (`reset_state`) starts every invocation from its initial state (zero,
    or the node's constant initial_h/initial_c: attributes `initial_h`, `initial_c`), as onnxruntime's
    does; TFLite's carries its state over (float32 zero is all-zero bytes)."""
    if not op.attrs.get("reset_state"):
        return ""
    code = ""
    for t, key in ((hidden, "initial_h"), (cell, "initial_c")):
        init = op.attrs.get(key)
        if init is None:
            code += f"memset({ctx.ptr(t)}, 0, {t.size * 4}); "
        else:
            code += f"memcpy({ctx.ptr(t)}, {ctx.const(init, 'lstm_init', 'float')}, {t.size * 4}); "
    return code


def _stacked(ctx: LoweringContext, gates, k: int, ctype: str, values=None, flash: bool = False) -> str:
    """The four gates' k-th constants (0 input weights, 1 recurrent weights, 2 bias) as one array."""
    data = values if values is not None else [g[k].data for g in gates]
    return ctx.const(np.concatenate([np.asarray(v).reshape(-1) for v in data]), "lstm", ctype, flash)


def _lstm_s8_params(op, ctx, x, gates, hidden, cell, dims, clip) -> str:
    """TFLM's PrepareGateParametersInteger and CreateLstmCellStateInfo, at compile time."""
    d = lambda t: float(np.float32(t.quant.s))  # noqa: E731  (a tensor's float scale, widened)
    fc = [quantize_multiplier(s_in * d(w) / _GATE_SCALE)
          for w_in, w_rec, _ in gates for s_in, w in ((d(x), w_in), (d(hidden), w_rec))]
    bias_in = [b.data.astype(np.int64) - x.quant.zp * w.data.astype(np.int64).sum(axis=1)
               for w, _, b in gates]
    bias_rec = [-hidden.quant.zp * w.data.astype(np.int64).sum(axis=1) for _, w, _ in gates]
    forget = quantize_multiplier(_ACT_SCALE * d(cell) / d(cell))
    inp = quantize_multiplier(_ACT_SCALE * _ACT_SCALE / d(cell))
    hid = quantize_multiplier(_ACT_SCALE * _ACT_SCALE / d(hidden))
    power = _checked_log2(cell.quant.s)
    left = 15 + power - 3  # lstm_internal::Tanh: the cell state brought to Q3.12
    tanh_mult, tanh_shift = (3, -left) if left < 0 else (3 << left, 0)
    quantized_clip = -1 if clip <= 0 else int(min(max(float(np.float32(clip)) / d(cell), -32768.0), 32767.0))
    return ctx.struct("mc_lstm_s8_t", "lstm", {
        **dims, "in_zp": x.quant.zp, "hidden_zp": hidden.quant.zp,
        "w_in": _stacked(ctx, gates, 0, "int8_t", [row_blocks(g[0].data, 4) for g in gates], True),
        "w_rec": _stacked(ctx, gates, 1, "int8_t", [row_blocks(g[1].data, 4) for g in gates], True),
        "bias_in": _stacked(ctx, gates, 2, "int32_t", [b.astype(np.int32) for b in bias_in], True),
        "bias_rec": _stacked(ctx, gates, 2, "int32_t", [b.astype(np.int32) for b in bias_rec], True),
        "fc_mult": ctx.const(np.array([m for m, _ in fc], np.int32), "mult", "int32_t"),
        "fc_shift": ctx.const(np.array([s for _, s in fc], np.int32), "shift", "int32_t"),
        "forget_mult": forget[0], "forget_shift": forget[1], "input_mult": inp[0], "input_shift": inp[1],
        "hidden_mult": hid[0], "hidden_shift": hid[1], "tanh_mult": tanh_mult, "tanh_shift": tanh_shift,
        "cell_clip": quantized_clip})


def _checked_log2(scale: float) -> int:
    """TFLM's CheckedLog2 (its result; TFLM ignores whether the scale was a power of two): in float32."""
    x = np.float32(np.log(np.float32(scale))) * (np.float32(1.0) / np.float32(np.log(np.float32(2.0))))
    return tflite_round(float(x))
