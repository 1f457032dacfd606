"""Lowerings of TensorFlow Lite Micro's signal library operators (runtime_c/include/mc_signal.h): the
custom operators of its audio front ends, options from each operator's flexbuffer map (frontend). What
TFLM leaves unchecked and would read or write out of bounds is refused here, at compile time."""
from __future__ import annotations

import math

import numpy as np

from microc.codegen.lowering import LoweringContext, lowering, unsupported
from microc.codegen.ops.common import c_list
from microc.ir import Op, Tensor

MAX_STAGES = 16  # MC_FFT_MAX_STAGES: a 2^15-point FFT has 8 radix-4 stages
PCAN_LUT = 125  # TFLM's gain table: 4 entries per bit length 3..32 of the noise estimate, from index -6


def _types(op: Op, inputs: tuple, outputs: tuple) -> None:
    """The dtypes TFLM's Prepare requires (None: not checked), and no input missing."""
    if len(op.inputs) < len(inputs) or len(op.outputs) < len(outputs) or any(t is None for t in op.inputs):
        raise unsupported(op, f"needs {len(inputs)} inputs and {len(outputs)} outputs")
    for kind, want, got in (("input", inputs, op.inputs), ("output", outputs, op.outputs)):
        for i, (w, t) in enumerate(zip(want, got)):
            if w is not None and t.dtype != w:
                raise unsupported(op, f"{kind} {i} '{t.name}' is {t.dtype}, expected {w}")


def _option(op: Op, key: str, lo: int, hi: int) -> int:
    value = op.attrs.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise unsupported(op, f"option {key}={value!r} is missing or outside [{lo}, {hi}]")
    return value


def _const(op: Op, t: Tensor, what: str) -> np.ndarray:
    if not t.is_const:
        raise unsupported(op, f"{what} '{t.name}' must be a constant")
    return t.data.reshape(-1)


def _same_size(op: Op, *tensors: Tensor) -> int:
    sizes = {t.size for t in tensors}
    if len(sizes) != 1:
        raise unsupported(op, f"tensors {', '.join(t.name for t in tensors)} differ in size")
    return sizes.pop()


@lowering("CUSTOM(SignalWindow)")
def lower_window(op: Op, ctx: LoweringContext) -> str:
    _types(op, ("int16", "int16"), ("int16",))
    x, w, y = op.inputs[0], op.inputs[1], op.outputs[0]
    size = _same_size(op, x, y)
    if len(w.shape) != 1 or w.size == 0 or size % w.size:
        raise unsupported(op, f"window {w.shape} does not tile input {x.shape}")
    shift = _option(op, "shift", 0, 31)
    return f"mc_signal_window({ctx.ptr(x)}, {ctx.ptr(w)}, {size}, {w.size}, {shift}, {ctx.ptr(y)});"


@lowering("CUSTOM(SignalFftAutoScale)")
def lower_fft_auto_scale(op: Op, ctx: LoweringContext) -> str:
    _types(op, ("int16",), ("int16", "int32"))
    x, y, shift = op.inputs[0], op.outputs[0], op.outputs[1]
    size = _same_size(op, x, y)
    return f"mc_signal_fft_auto_scale({ctx.ptr(x)}, {size}, {ctx.ptr(y)}, {ctx.ptr(shift)});"


def kiss_factors(n: int) -> list[tuple[int, int]]:
    """kissfft's kf_factor: radix 4 while it divides, then 2, 3, 5, ...: (radix, remaining length)."""
    factors, p, floor_sqrt = [], 4, math.floor(math.sqrt(n))
    while True:
        while n % p:
            p = {4: 2, 2: 3}.get(p, p + 2)
            if p > floor_sqrt:
                p = n
        n //= p
        factors.append((p, n))
        if n <= 1:
            return factors


def kiss_twiddle(phase: float) -> tuple[int, int]:
    """kissfft's fixed-point kf_cexp: floor(0.5 + 32767 cos), the same of sin, in double."""
    return math.floor(0.5 + 32767 * math.cos(phase)), math.floor(0.5 + 32767 * math.sin(phase))


def rfft_twiddles(fft_length: int, inverse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """kiss_fft_alloc's twiddles of the half-length complex FFT and kiss_fftr_alloc's super twiddles,
    with kissfft's own expressions (the order of the double operations matters; inverse: negated)."""
    n, sign = fft_length // 2, -1 if inverse else 1
    tw = [kiss_twiddle(sign * (-2 * math.pi * i / n)) for i in range(n)]
    pi = 3.14159265358979323846264338327
    sup = [kiss_twiddle(sign * (-pi * ((i + 1) / n + .5))) for i in range(n // 2)]
    return np.array(tw, np.int16).reshape(-1), np.array(sup, np.int16).reshape(-1)


def _rfft_length(op: Op) -> int:
    if op.attrs.get("T", 7) != 7:
        raise unsupported(op, f"T={op.attrs.get('T')}: only the int16 RFFT (T=7) is supported")
    n = _option(op, "fft_length", 4, 1 << 15)
    if any(p not in (2, 4) for p, _ in kiss_factors(n // 2)) or n & (n - 1):
        raise unsupported(op, f"fft_length {n} is not a power of two")
    return n


def _fft_operands(op: Op) -> tuple[Tensor, Tensor, int]:
    """The int16 input and output, each with a last dimension, and the fft length."""
    _types(op, ("int16",), ("int16",))
    x, y = op.inputs[0], op.outputs[0]
    n = _rfft_length(op)
    if not x.shape or not y.shape:
        raise unsupported(op, "input and output need a last dimension")
    return x, y, n


def _rfft_scratch(op: Op, schedule) -> int:
    return 4 * _rfft_length(op)  # the zero-padded frame and the complex FFT's output


@lowering("CUSTOM(SignalRfft)", scratch_bytes=_rfft_scratch)
def lower_rfft(op: Op, ctx: LoweringContext) -> str:
    x, y, n = _fft_operands(op)
    in_len, out_len = x.shape[-1], y.shape[-1] // 2
    frames = -(-x.size // in_len) if in_len else 0
    if not 0 < in_len <= n or out_len != n // 2 + 1 or y.size < 2 * out_len * frames or x.size % in_len:
        raise unsupported(op, f"input {x.shape} and output {y.shape} do not fit fft_length {n} "
                              f"(frames of at most {n} samples, {n // 2 + 1} complex outputs each)")
    p = _fft_struct(ctx, n, in_len, frames, out_len, inverse=False)
    return f"mc_signal_rfft_s16({p}, {ctx.ptr(x)}, {ctx.ptr(y)}, {ctx.scratch()});"


def _fft_struct(ctx: LoweringContext, n: int, in_len: int, frames: int, out_len: int, inverse: bool) -> str:
    factors = kiss_factors(n // 2) + [(0, 0)] * MAX_STAGES
    tw, sup = rfft_twiddles(n, inverse)
    return ctx.struct("mc_rfft_s16_t", "irfft" if inverse else "rfft", c_list({
        "fft_length": n, "input_length": in_len, "frames": frames, "out_stride": out_len,
        "stages": len(kiss_factors(n // 2)), "radix": [f for f, _ in factors[:MAX_STAGES]],
        "span": [m for _, m in factors[:MAX_STAGES]],
        "twiddles": ctx.const(tw, "twiddles", "int16_t"), "super_twiddles": ctx.const(sup, "super", "int16_t"),
        "inverse": int(inverse)}))


def _irfft_scratch(op: Op, schedule) -> int:
    return 2 * _rfft_length(op)  # the packed half-length spectrum


@lowering("CUSTOM(SignalIrfft)", scratch_bytes=_irfft_scratch)
def lower_irfft(op: Op, ctx: LoweringContext) -> str:
    x, y, n = _fft_operands(op)
    in_len, out_len = x.shape[-1] // 2, y.shape[-1]
    frames = x.size // (2 * in_len) if in_len else 0
    if in_len < n // 2 + 1 or out_len < n or x.size != 2 * in_len * frames or y.size != out_len * frames:
        raise unsupported(op, f"input {x.shape} and output {y.shape} do not fit fft_length {n} "
                              f"(frames of at least {n // 2 + 1} complex inputs and {n} outputs)")
    p = _fft_struct(ctx, n, in_len, frames, out_len, inverse=True)
    return f"mc_signal_irfft_s16({p}, {ctx.ptr(x)}, {ctx.ptr(y)}, {ctx.scratch()});"


@lowering("CUSTOM(SignalEnergy)")
def lower_energy(op: Op, ctx: LoweringContext) -> str:
    _types(op, ("int16",), ("uint32",))
    start, end = energy_bins(op)
    return f"mc_signal_energy({ctx.ptr(op.inputs[0])}, {start}, {end}, {ctx.ptr(op.outputs[0])});"


def energy_bins(op: Op) -> tuple[int, int]:
    """The bins [start, end) SignalEnergy writes; TFLM leaves the others as they were (so does microc)."""
    bins = min(op.inputs[0].size // 2, op.outputs[0].size)
    start = _option(op, "start_index", 0, bins)
    return start, _option(op, "end_index", start, bins)


@lowering("CUSTOM(SignalFilterBank)")
def lower_filter_bank(op: Op, ctx: LoweringContext) -> str:
    _types(op, ("uint32", "int16", "int16", "int16", "int16", "int16"), ("uint64",))
    x, weights, unweights, freq, wstart, widths = op.inputs[:6]
    y = op.outputs[0]
    channels = _option(op, "num_channels", 1, 1 << 15)
    w, u = _const(op, weights, "weights"), _const(op, unweights, "unweights")
    f, s, n = (_const(op, t, what).astype(np.int64) for t, what in
               ((freq, "channel frequency starts"), (wstart, "channel weight starts"), (widths, "channel widths")))
    if y.size != channels or not f.size == s.size == n.size == channels + 1 or w.size != u.size:
        raise unsupported(op, f"{channels} channels do not fit the output {y.shape} and the tables")
    if (f < 0).any() or (s < 0).any() or (n < 0).any() or (f + n > x.size).any() or (s + n > w.size).any():
        raise unsupported(op, "a channel reads outside the input or the weights")
    p = ctx.struct("mc_filter_bank_t", "filter_bank", {
        "channels": channels, "freq_starts": ctx.ptr(freq), "weight_starts": ctx.ptr(wstart),
        "widths": ctx.ptr(widths), "weights": ctx.ptr(weights), "unweights": ctx.ptr(unweights)})
    return f"mc_signal_filter_bank({p}, {ctx.ptr(x)}, {ctx.ptr(y)});"


@lowering("CUSTOM(SignalFilterBankSquareRoot)")
def lower_filter_bank_sqrt(op: Op, ctx: LoweringContext) -> str:
    _types(op, ("uint64", "int32"), ("uint32",))
    x, shift, y = op.inputs[0], op.inputs[1], op.outputs[0]
    if shift.size != 1:
        raise unsupported(op, f"the shift '{shift.name}' must be a scalar")
    if shift.is_const and not 0 <= int(shift.data.reshape(-1)[0]) <= 31:
        raise unsupported(op, f"the shift {int(shift.data.reshape(-1)[0])} is outside [0, 31]")
    n = _same_size(op, x, y)
    return f"mc_signal_filter_bank_sqrt({ctx.ptr(x)}, {n}, {ctx.ptr(shift)}, {ctx.ptr(y)});"


@lowering("CUSTOM(SignalFilterBankSpectralSubtraction)")
def lower_spectral_subtraction(op: Op, ctx: LoweringContext) -> str:
    """The noise estimate is the operator's state: its last input, a variable tensor the frontend adds
    (microc/frontends/tflite.py _CUSTOM_STATE), zero after a reset as TFLM's."""
    _types(op, ("uint32", "uint32"), ("uint32", "uint32"))
    x, state, (y, noise) = op.inputs[0], op.inputs[-1], op.outputs[:2]
    channels = _option(op, "num_channels", 1, 2**24 - 1)
    if len(op.inputs) != 2 or not state.variable or state.size != channels:
        raise unsupported(op, f"needs one input of {channels} channels (and its state)")
    if _same_size(op, x, y, noise) != channels:
        raise unsupported(op, f"input and outputs must have num_channels={channels} elements")
    bits = {k: _option(op, k, 0, 31) for k in ("smoothing_bits", "spectral_subtraction_bits")}
    coeffs = {k: _option(op, k, 0, 2**32 - 1) for k in (
        "smoothing", "one_minus_smoothing", "alternate_smoothing", "alternate_one_minus_smoothing",
        "min_signal_remaining")}
    clamping = op.attrs.get("clamping", False)
    if not isinstance(clamping, bool):
        raise unsupported(op, f"option clamping={clamping!r} is not a boolean")
    p = ctx.struct("mc_spectral_subtraction_t", "spectral_subtraction", {
        "channels": channels, "smoothing": f"{coeffs['smoothing']}u",
        "one_minus_smoothing": f"{coeffs['one_minus_smoothing']}u",
        "alt_smoothing": f"{coeffs['alternate_smoothing']}u",
        "alt_one_minus_smoothing": f"{coeffs['alternate_one_minus_smoothing']}u",
        "min_signal_remaining": f"{coeffs['min_signal_remaining']}u",
        "smoothing_bits": f"{bits['smoothing_bits']}u", "subtraction_bits": f"{bits['spectral_subtraction_bits']}u",
        "clamping": int(clamping)})
    return (f"mc_signal_spectral_subtraction({p}, {ctx.ptr(x)}, {ctx.ptr(y)}, {ctx.ptr(noise)}, "
            f"{ctx.ptr(state)});")


@lowering("CUSTOM(SignalDelay)")
def lower_delay(op: Op, ctx: LoweringContext) -> str:
    """The delayed samples are the operator's state: its last input, a variable tensor the frontend adds,
    zero after a reset as TFLM's (its circular buffers restart with delay_length zeros)."""
    _types(op, ("int16", "int16"), ("int16",))
    x, state, y = op.inputs[0], op.inputs[-1], op.outputs[0]
    delay = _option(op, "delay_length", 1, 2**24 - 1)
    frame = x.shape[-1] if x.shape else 0
    rows = x.size // frame if frame else 0
    if len(op.inputs) != 2 or not state.variable or tuple(state.shape) != (rows, delay):
        raise unsupported(op, f"needs one input (and its state of {rows} x {delay} samples)")
    if tuple(y.shape) != tuple(x.shape) or frame == 0:
        raise unsupported(op, f"output {y.shape} must have the input's shape {x.shape}")
    return f"mc_signal_delay({ctx.ptr(x)}, {rows}, {frame}, {delay}, {ctx.ptr(y)}, {ctx.ptr(state)});"


@lowering("CUSTOM(SignalFramer)")
def lower_framer(op: Op, ctx: LoweringContext) -> str:
    """The samples held between invokes are the operator's state (a variable tensor the frontend adds)."""
    _types(op, ("int16", "int16"), ("int16", "bool"))
    x, state, (y, valid) = op.inputs[0], op.inputs[-1], op.outputs[:2]
    size, step = _option(op, "frame_size", 1, 2**14 - 1), _option(op, "frame_step", 1, 2**14 - 1)
    prefill = op.attrs.get("prefill", False)
    inner = x.shape[-1] if x.shape else 0
    if not isinstance(prefill, bool) or step > size:
        raise unsupported(op, f"frame_step {step} > frame_size {size} or prefill={prefill!r} not a boolean")
    if inner < step or inner % step:
        raise unsupported(op, f"the innermost dimension {inner} is not a whole number of frame_steps {step}")
    rows, frames, capacity = x.size // inner, inner // step, -(-size // step) * step  # TFLM's buffer
    if tuple(y.shape) != tuple(x.shape[:-1]) + (frames, size) or valid.size != 1:
        raise unsupported(op, f"outputs must be {tuple(x.shape[:-1]) + (frames, size)} frames and a flag")
    if len(op.inputs) != 2 or not state.variable or tuple(state.shape) != (rows, capacity + 1):
        raise unsupported(op, "needs one input (and its state)")
    p = ctx.struct("mc_framer_t", "framer", {"rows": rows, "frames": frames, "size": size, "step": step,
                                             "capacity": capacity, "prefill": size - step if prefill else 0})
    return f"mc_signal_framer({p}, {ctx.ptr(x)}, {ctx.ptr(y)}, {ctx.ptr(valid)}, {ctx.ptr(state)});"


@lowering("CUSTOM(SignalStacker)")
def lower_stacker(op: Op, ctx: LoweringContext) -> str:
    """The frames held between invokes are the operator's state (a variable tensor the frontend adds)."""
    _types(op, ("int16", "int16"), ("int16", "bool"))
    x, state, (y, valid) = op.inputs[0], op.inputs[-1], op.outputs[:2]
    channels = _option(op, "num_channels", 1, 2**12 - 1)
    left, right = (_option(op, f"stacker_{k}_context", 0, 2**12 - 1) for k in ("left", "right"))
    frames = left + 1 + right
    step = _option(op, "stacker_step", 1, frames)  # TFLM cannot drop more than it holds
    if len(x.shape) != 1 or x.size != channels or len(y.shape) != 1 or y.size != channels * frames \
            or valid.size != 1:
        raise unsupported(op, f"needs a [{channels}] input, a [{channels * frames}] output and a flag")
    if channels * frames >= 2**15:
        raise unsupported(op, f"{channels * frames} stacked samples (microc holds fewer than 32768)")
    if len(op.inputs) != 2 or not state.variable or state.size != channels * frames + 2:
        raise unsupported(op, "needs one input (and its state)")
    p = ctx.struct("mc_stacker_t", "stacker", {"channels": channels, "frames": frames, "left": left, "step": step})
    return f"mc_signal_stacker({p}, {ctx.ptr(x)}, {ctx.ptr(y)}, {ctx.ptr(valid)}, {ctx.ptr(state)});"


@lowering("CUSTOM(SignalOverlapAdd)")
def lower_overlap_add(op: Op, ctx: LoweringContext) -> str:
    """The partial sums kept between invokes are the operator's state (a variable tensor the frontend adds)."""
    x, y = op.inputs[0], op.outputs[0]
    dtype = {7: "int16", 0: "float32"}.get(op.attrs.get("T"))
    if dtype is None or x.dtype != dtype:
        raise unsupported(op, f"T={op.attrs.get('T')!r} with a {x.dtype} input: int16 (T=7) or float32 (T=0)")
    _types(op, (dtype, dtype), (dtype,))
    state = op.inputs[-1]
    step = _option(op, "frame_step", 1, 2**24 - 1)
    if len(x.shape) < 2 or step > x.shape[-1]:
        raise unsupported(op, f"input {x.shape} is not frames of at least frame_step {step} samples")
    frames, size = x.shape[-2], x.shape[-1]
    rows = x.size // (frames * size) if frames * size else 0
    if tuple(y.shape) != tuple(x.shape[:-2]) + (frames * step,):
        raise unsupported(op, f"output {y.shape} must be {tuple(x.shape[:-2]) + (frames * step,)}")
    if len(op.inputs) != 2 or not state.variable or tuple(state.shape) != (rows, size):
        raise unsupported(op, "needs one input (and its state)")
    p = ctx.struct("mc_overlap_add_t", "overlap_add", {"rows": rows, "frames": frames, "size": size, "step": step})
    kind = "s16" if dtype == "int16" else "f32"
    return f"mc_signal_overlap_add_{kind}({p}, {ctx.ptr(x)}, {ctx.ptr(y)}, {ctx.ptr(state)});"


@lowering("CUSTOM(SignalPCAN)")
def lower_pcan(op: Op, ctx: LoweringContext) -> str:
    _types(op, ("uint32", "uint32", "int16"), ("uint32",))
    x, noise, lut, y = op.inputs[0], op.inputs[1], op.inputs[2], op.outputs[0]
    if _const(op, lut, "gain table").size < PCAN_LUT:
        raise unsupported(op, f"the gain table has {lut.size} entries, fewer than the {PCAN_LUT} it is read at")
    shift = _option(op, "snr_shift", 0, 63)
    n = _same_size(op, x, noise, y)
    return f"mc_signal_pcan({ctx.ptr(x)}, {ctx.ptr(noise)}, {ctx.ptr(lut)}, {n}, {shift}, {ctx.ptr(y)});"


def log_table() -> np.ndarray:
    """TFLM's log2 correction table: round(2^16 (log2(1 + i/128) - i/128)) for i = 0..128, and a 0 the
    interpolation may read past the end (the same 130 values as TFLM's kLogLut)."""
    return np.array([math.floor(65536 * (math.log2(1 + i / 128) - i / 128) + 0.5) for i in range(129)] + [0],
                    np.uint16)


@lowering("CUSTOM(SignalFilterBankLog)")
def lower_filter_bank_log(op: Op, ctx: LoweringContext) -> str:
    _types(op, ("uint32",), ("int16",))
    x, y = op.inputs[0], op.outputs[0]
    n = _same_size(op, x, y)
    scale = _option(op, "output_scale", 0, 2**31 - 1)
    bits = _option(op, "input_correction_bits", 0, 31)
    lut = ctx.const(log_table(), "log_lut", "uint16_t")
    return f"mc_signal_filter_bank_log({ctx.ptr(x)}, {n}, {scale}u, {bits}u, {lut}, {ctx.ptr(y)});"
