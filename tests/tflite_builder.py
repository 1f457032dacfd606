"""Write small .tflite models for tests, and run them on TFLM as the reference.

    b = ModelBuilder()
    x = b.tensor("x", (1, 8, 8, 3), "int8", scale=0.05, zero_point=-3)
    w = b.const("w", w_q, scale=w_scales, zero_point=0, axis=0)     # per-channel int8
    bias = b.const("bias", b_q, scale=w_scales * 0.05, axis=0)     # int32
    y = b.tensor("y", (1, 8, 8, 4), "int8", scale=0.1, zero_point=2)
    b.op("CONV_2D", [x, w, bias], [y], padding="SAME", stride=(1, 1), activation="RELU")
    b.inputs([x]); b.outputs([y])
    (out,) = run_tflm(b.build(), [x_q])

`b.op` keyword options per operator are listed in microc/export/flatbuffer.py's `OPTIONS` (unknown keywords raise TypeError).
Optional inputs that are absent are written as -1 (e.g. FULLY_CONNECTED without bias).

Operator inputs (schema order):
  CONV_2D            input, filter [O,KH,KW,I], bias [O]      per-channel axis 0
  DEPTHWISE_CONV_2D  input, filter [1,KH,KW,I*M], bias [I*M]  per-channel axis 3
  FULLY_CONNECTED    input, weights [O,I], bias [O] or -1
  RESHAPE            input, shape int32 [rank]; also pass new_shape= (the converter writes both)
  PAD                input, paddings int32 const [rank, 2]
  MEAN               input, axis int32 const [k]
  ADD/SUB/MUL        two inputs (broadcasting allowed); CONCATENATION: 2..10 inputs

TFLM int8 rules (read in the kernels and tried on the installed tflite-micro; "checked" ones fail
in Prepare, "silent" ones are not checked and the result is just wrong if the model breaks them):
  - bias of int8 CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED is int32, zero point 0,
    scale = input_scale * weight_scale (per channel); weights symmetric, zero point 0.
  - SOFTMAX: output scale exactly 1/256, zero point -128 (checked).
  - LOGISTIC: output zero point -128 (checked); scale 1/256 (silent: the kernel assumes it).
  - TANH: output scale 1/128, zero point 0 (silent: nothing is checked).
  - Raw int8 values are copied or compared, so inputs and output must share scale and zero point:
    MAX_POOL_2D, AVERAGE_POOL_2D, CONCATENATION (checked); RELU6, PAD, RESHAPE, SQUEEZE (silent).
  - CONCATENATION: fused activation must be NONE (checked); at most 10 inputs, rank <= 4.
  - PAD: paddings must be a constant int32 tensor; rank <= 4; pads with the output zero point.
  - MEAN: axis tensor must be int32.
  - QUANTIZE: output must be per-tensor quantized.
  - Schema defaults are not TFLM's: an omitted SoftmaxOptions.beta is 0.0 (int8 SOFTMAX then
    aborts the process), omitted strides/filter sizes are 0. The keyword defaults here are sane.
  - Output shapes are taken from the output tensors as written: MEAN's keep_dims and RESHAPE's
    new_shape are not checked against them, so a wrong output shape is on the test author.
  - RELU, LEAKY_RELU, HARD_SWISH, ADD, SUB, MUL, MEAN, QUANTIZE requantize: any scales work.

Quantization helpers mirror TFLite's post-training quantizer (tensorflow/lite/tools/optimize/
quantization_utils.cc): float32 arithmetic, std::round (half away from zero). They live here for
the tests; the compiler has its own quantizer.
"""

from __future__ import annotations

import numpy as np
import tflite

from microc.export.flatbuffer import DTYPES as _DTYPES
from microc.export.flatbuffer import OPTIONS as _OPTIONS  # noqa: F401  (re-exported for tests)
from microc.export.flatbuffer import ModelWriter


class ModelBuilder(ModelWriter):
    """The compiler's .tflite writer (microc/export/flatbuffer.py), under the tests' name: collects
    tensors, constants and operators of one subgraph; `build()` returns .tflite bytes."""


# ---- running on TFLM ----


def run_tflm(model: bytes, inputs, arena_size: int = 8 << 20) -> list[np.ndarray]:
    """Run `model` once on tflite-micro's reference kernels and return copies of its outputs.

    Inputs must already have the model's dtype and shape; nothing is cast here, so a mismatch is
    an error rather than a silently different test. Prepare failures raise RuntimeError (TFLM's
    reason goes to stderr), but some malformed models trip a TFLITE_CHECK and abort the whole
    process, e.g. int8 SOFTMAX with beta 0."""
    from tflite_micro.python.tflite_micro import runtime  # imported late: it loads a C extension

    subgraph = tflite.Model.GetRootAs(model, 0).Subgraphs(0)
    if len(inputs) != subgraph.InputsLength():
        # TFLM would run anyway and read whatever the arena holds
        raise ValueError(f"model has {subgraph.InputsLength()} inputs, got {len(inputs)}")
    interp = runtime.Interpreter.from_bytes(bytes(model), arena_size=arena_size)
    for i, x in enumerate(inputs):
        interp.set_input(np.ascontiguousarray(x), i)
    interp.invoke()
    n_outputs = subgraph.OutputsLength()
    return [np.array(interp.get_output(i), copy=True) for i in range(n_outputs)]


# ---- quantization helpers (TFLite post-training quantizer semantics) ----


def round_half_away(x) -> np.ndarray:
    """std::round / TfLiteRound: ties away from zero (numpy's round is ties-to-even). Exact: the
    fractional part x - trunc(x) is representable, so no `floor(x + 0.5)` double rounding."""
    x = np.asarray(x)
    t = np.trunc(x)
    return np.where(np.abs(x - t) >= 0.5, t + np.sign(x), t)


def quant_params_for(rmin: float, rmax: float, dtype: str = "int8") -> tuple[float, int]:
    """Asymmetric activation (scale, zero_point) for the real range [rmin, rmax], as TFLite's
    GetAsymmetricQuantizationParams: the range is widened to contain 0, scale computed in float32,
    zero point rounded and clamped to the integer range."""
    info = np.iinfo(_DTYPES[dtype][1])
    qmin, qmax = np.float32(info.min), np.float32(info.max)
    rmin, rmax = np.float32(min(rmin, 0.0)), np.float32(max(rmax, 0.0))
    scale = np.float32((rmax - rmin) / (qmax - qmin))
    if scale == 0:
        raise ValueError("quant_params_for: empty range (min == max == 0)")
    zp_from_min = np.float32(qmin - rmin / scale)
    zp = int(np.clip(round_half_away(zp_from_min), qmin, qmax))
    return float(scale), zp


def quantize(x, scale: float, zero_point: int, dtype: str = "int8") -> np.ndarray:
    """Float -> integer as TFLM's QUANTIZE (AffineQuantize): round(x / scale) + zp in float32,
    clamped. Bit-exact with the kernel."""
    info = np.iinfo(_DTYPES[dtype][1])
    r = round_half_away(np.asarray(x, np.float32) / np.float32(scale))
    q = np.clip(r, -2.0**31, 2.0**31 - 1).astype(np.int64) + zero_point  # int add, as in C
    return np.clip(q, info.min, info.max).astype(_DTYPES[dtype][1])


def dequantize(q, scale: float, zero_point: int) -> np.ndarray:
    """Integer -> float as TFLM's DEQUANTIZE: the product is taken in double, then cast."""
    diff = np.asarray(q, np.int64) - zero_point
    return (np.float64(np.float32(scale)) * diff).astype(np.float32)


def quantize_weights_per_channel(w, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per-channel weights: scale = max|w| / 127 along every index of `axis`,
    values round(w * 127 / max|w|) in [-127, 127]. Returns (int8 weights, float32 scales).
    An all-zero channel gets scale 1.0 (TFLite would write 0, a degenerate scale)."""
    w = np.asarray(w, np.float32)
    other = tuple(d for d in range(w.ndim) if d != axis % w.ndim)
    half_range = np.max(np.abs(w), axis=other, keepdims=True)
    safe = np.where(half_range == 0, np.float32(127), half_range)
    scale_inv = np.float32(127) / safe
    q = np.clip(round_half_away(w * scale_inv), -127, 127).astype(np.int8)
    scales = (safe / np.float32(127)).reshape(-1).astype(np.float32)
    return q, scales


def quantize_bias(bias, input_scale: float, weight_scales) -> tuple[np.ndarray, np.ndarray]:
    """Int32 bias with scale input_scale * weight_scale (per channel), zero point 0, as TFLite's
    SymmetricPerChannelBiasQuantize. Returns (int32 bias, float32 scales)."""
    scales = (np.float32(input_scale) * np.asarray(weight_scales, np.float32)).astype(np.float32)
    scales = np.broadcast_to(scales, np.shape(bias)).astype(np.float32)
    s64 = scales.astype(np.float64)  # C: float inv = 1.0 / scale (double division, then float)
    inv = np.divide(1.0, s64, out=np.zeros_like(s64), where=s64 != 0).astype(np.float32)
    lim = np.iinfo(np.int32).max
    q = np.clip(round_half_away(np.asarray(bias, np.float32) * inv), -lim, lim)
    return q.astype(np.int32), scales
