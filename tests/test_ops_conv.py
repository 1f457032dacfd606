"""CONV_2D and DEPTHWISE_CONV_2D (and FULLY_CONNECTED) against TFLite Micro: int8 bit-exact, float32
within FLOAT_RTOL. Each model holds several convolutions side by side on one input, so one C build
covers many variants (padding, stride, dilation, activation, per-channel/per-tensor, bias or not)."""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from dataclasses import dataclass

import harness
import numpy as np
import pytest
from shared_models import shared_model
from tflite_builder import ModelBuilder, quantize_bias, quantize_weights_per_channel, run_tflm

from microc import RUNTIME_C
from microc.codegen.generate import generate
from microc.errors import UnsupportedOperator
from microc.frontends import load_model
from microc.passes.order import memory_order
from microc.verify import FLOAT_RTOL


@dataclass
class Conv:
    k: tuple[int, int]
    out_c: int  # output channels (CONV_2D), depth multiplier (DEPTHWISE_CONV_2D)
    padding: str = "SAME"
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    activation: str = "NONE"
    per_channel: bool = True
    bias: bool = True
    out_scale: float = 1.0  # multiplies the output scale that keeps most results in range
    out_zp: int = 5


def _out_size(n: int, k: int, s: int, d: int, padding: str) -> int:
    eff = (k - 1) * d + 1
    return -(-n // s) if padding == "SAME" else (n - eff) // s + 1


def _add_conv(b: ModelBuilder, x: int, x_shape, in_q, c: Conv, depthwise: bool, dtype: str,
              rng, i: int) -> int:
    n, h, w, in_c = x_shape
    out_c = in_c * c.out_c if depthwise else c.out_c
    wshape = (1, *c.k, out_c) if depthwise else (out_c, *c.k, in_c)
    wf = rng.standard_normal(wshape).astype(np.float32) * np.float32(0.5)
    bf = rng.standard_normal(out_c).astype(np.float32)
    oh = _out_size(h, c.k[0], c.stride[0], c.dilation[0], c.padding)
    ow = _out_size(w, c.k[1], c.stride[1], c.dilation[1], c.padding)
    taps = c.k[0] * c.k[1] * (1 if depthwise else in_c)
    axis = 3 if depthwise else 0
    if dtype == "float32":
        wt = b.const(f"w{i}", wf)
        bt = b.const(f"b{i}", bf) if c.bias else -1
        y = b.tensor(f"y{i}", (n, oh, ow, out_c), "float32")
    else:
        wq, ws = quantize_weights_per_channel(wf, axis)
        if not c.per_channel:
            ws = np.full(1, np.abs(wf).max() / 127, np.float32)
            wq = np.clip(np.round(wf / ws[0]), -127, 127).astype(np.int8)
        wt = b.const(f"w{i}", wq, scale=ws, zero_point=0, axis=axis)
        bq, bs = quantize_bias(bf * 4, in_q[0], np.broadcast_to(ws, (out_c,)))
        bt = b.const(f"b{i}", bq, scale=bs, zero_point=0, axis=0) if c.bias else -1
        out_s = in_q[0] * float(ws.max()) * 40 * math.sqrt(taps) * c.out_scale
        y = b.tensor(f"y{i}", (n, oh, ow, out_c), "int8", scale=out_s, zero_point=c.out_zp)
    opts = dict(padding=c.padding, stride=c.stride, dilation=c.dilation, activation=c.activation)
    if depthwise:
        opts["depth_multiplier"] = c.out_c
    b.op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [x, wt, bt], [y], **opts)
    return y


def _model(x_shape, in_q, convs, depthwise: bool, dtype: str, seed: int, dw_convs=()) -> bytes:
    """Every conv of `convs` (depthwise or not) and of `dw_convs` (depthwise) side by side on x."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    qargs = dict(scale=in_q[0], zero_point=in_q[1]) if dtype == "int8" else {}
    x = b.tensor("x", x_shape, dtype, **qargs)
    fits = [(c, dw) for cs, dw in ((convs, depthwise), (dw_convs, True)) for c in cs
            if all(_out_size(n, *a, c.padding) > 0 for n, a in
                   zip(x_shape[1:3], zip(c.k, c.stride, c.dilation)))]
    ys = [_add_conv(b, x, x_shape, in_q, c, dw, dtype, rng, i) for i, (c, dw) in enumerate(fits)]
    b.inputs([x])
    b.outputs(ys)
    return b.build()


def _samples(shape, dtype: str, seed: int, n: int = 3) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    if dtype == "float32":
        return [[rng.standard_normal(shape).astype(np.float32) * 2] for _ in range(n)]
    rand = [[rng.integers(-128, 127, shape, endpoint=True, dtype=np.int8)] for _ in range(n)]
    return rand + [[np.full(shape, -128, np.int8)], [np.full(shape, 127, np.int8)]]


def _check(model: bytes, samples, tmp_path, extra_flags=(), schedules=None) -> None:
    path = tmp_path / "model.tflite"
    path.write_bytes(model)
    got_all = harness.compile_and_run(path, samples, tmp_path, extra_flags, schedules=schedules)
    for sample, got in zip(samples, got_all):
        want = run_tflm(model, sample)
        assert len(got) == len(want)
        for i, (g, w) in enumerate(zip(got, want)):
            assert g.shape == w.shape, f"output {i}"
            if w.dtype == np.float32:
                tol = FLOAT_RTOL * max(float(np.abs(w).max()), 1e-30)
                assert np.max(np.abs(g - w)) <= tol, f"output {i}: {np.max(np.abs(g - w))} > {tol}"
            else:
                assert np.array_equal(g, w), f"output {i}: {np.count_nonzero(g != w)} values differ"


ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]

CONVS = [
    Conv((3, 3), 6),
    Conv((3, 3), 3, stride=(2, 2), activation="RELU", per_channel=False),
    Conv((1, 1), 8, padding="VALID", activation="RELU6", bias=False),
    Conv((1, 1), 5, stride=(2, 2), activation="RELU_N1_TO_1", out_scale=0.02),
    Conv((3, 2), 4, padding="VALID", dilation=(2, 1), out_zp=-128),
    Conv((3, 3), 3, dilation=(2, 2), stride=(1, 2), activation="RELU", out_zp=127),
    Conv((1, 3), 2, stride=(1, 2), activation="RELU6", per_channel=False, bias=False),
    Conv((4, 1), 7, padding="VALID", stride=(3, 1), out_scale=20.0),
    Conv((5, 5), 2, activation="NONE", out_scale=0.001),
]

# TFLM's DEPTHWISE_CONV_2D crashes (segfault) without a bias tensor, so every case here has one.
DW_CONVS = [
    Conv((3, 3), 1),
    Conv((3, 3), 1, stride=(2, 2), activation="RELU", per_channel=False),
    Conv((3, 3), 2, padding="VALID", activation="RELU6"),
    Conv((5, 3), 3, stride=(2, 1), activation="RELU_N1_TO_1", out_scale=0.05),
    Conv((3, 3), 1, dilation=(2, 2), out_zp=-128),
    Conv((2, 4), 2, dilation=(1, 2), stride=(1, 3), out_zp=127, per_channel=False),
    Conv((1, 1), 1, activation="RELU"),
    Conv((7, 7), 1, out_scale=20.0),
]

# (input shape, input quantization (scale, zero point))
INPUTS = [((1, 7, 9, 5), (0.05, -3)), ((2, 6, 5, 3), (0.7, 127)), ((1, 5, 8, 8), (0.002, -128)),
          ((1, 1, 1, 4), (0.1, 0)), ((1, 6, 7, 17), (0.02, 50))]


@pytest.mark.parametrize("shape,in_q", INPUTS)
@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_conv2d(shape, in_q, dtype, tmp_path):
    model = _model(shape, in_q, CONVS, False, dtype, seed=1)
    _check(model, _samples(shape, dtype, seed=2), tmp_path)


@pytest.mark.parametrize("shape,in_q", INPUTS)
@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_depthwise_conv2d(shape, in_q, dtype, tmp_path):
    model = _model(shape, in_q, DW_CONVS, True, dtype, seed=3)
    _check(model, _samples(shape, dtype, seed=4), tmp_path)


@pytest.mark.parametrize("activation", ACTS)
def test_every_activation_both_kernels(activation, tmp_path):
    shape, in_q = (1, 6, 6, 4), (0.03, 10)
    b = ModelBuilder()
    rng = np.random.default_rng(5)
    x = b.tensor("x", shape, "int8", scale=in_q[0], zero_point=in_q[1])
    ys = [_add_conv(b, x, shape, in_q, Conv((3, 3), 6, activation=activation, out_scale=0.3),
                    False, "int8", rng, 0),
          _add_conv(b, x, shape, in_q, Conv((3, 3), 2, activation=activation, out_scale=0.3),
                    True, "int8", rng, 1)]
    b.inputs([x])
    b.outputs(ys)
    _check(b.build(), _samples(shape, "int8", seed=6), tmp_path)


def _run_sanitized(model: bytes, x: np.ndarray, tmp_path) -> list[np.ndarray]:
    path = tmp_path / "model.tflite"
    path.write_bytes(model)
    return harness.compile_and_run_sanitized(path, [[x]], tmp_path)[0]


@pytest.mark.parametrize("depthwise", [False, True])
@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_sanitizers(depthwise, dtype, tmp_path):
    shape, in_q = (2, 5, 7, 6), (0.05, -3)  # both CONV_2D paths: patches (k_w * 6 < 16), in place
    model = _model(shape, in_q, DW_CONVS if depthwise else CONVS, depthwise, dtype, seed=7)
    (x,) = _samples(shape, dtype, seed=8, n=1)[0]
    got, want = _run_sanitized(model, x, tmp_path), run_tflm(model, [x])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        tol = FLOAT_RTOL * float(np.abs(w).max()) if dtype == "float32" else 0
        assert np.max(np.abs(g.astype(np.float64) - w)) <= tol


def test_fully_connected_int8_and_float(tmp_path):
    rng = np.random.default_rng(9)
    for dtype in ("int8", "float32"):
        b = ModelBuilder()
        wf = rng.standard_normal((7, 13)).astype(np.float32)
        if dtype == "int8":
            x = b.tensor("x", (3, 13), "int8", scale=0.04, zero_point=-128)
            wq, ws = quantize_weights_per_channel(wf, 0)
            bq, bs = quantize_bias(rng.standard_normal(7), 0.04, ws)
            w = b.const("w", wq, scale=ws, zero_point=0, axis=0)
            bias = b.const("b", bq, scale=bs, zero_point=0, axis=0)
            y = b.tensor("y", (3, 7), "int8", scale=0.2, zero_point=-7)
        else:
            x = b.tensor("x", (3, 13), "float32")
            w, bias = b.const("w", wf), -1
            y = b.tensor("y", (3, 7), "float32")
        b.op("FULLY_CONNECTED", [x, w, bias], [y], activation="RELU6")
        b.inputs([x])
        b.outputs([y])
        (tmp_path / dtype).mkdir()
        _check(b.build(), _samples((3, 13), dtype, seed=10), tmp_path / dtype)


# (out_features, activation, per_channel, bias): row counts around the kernel's blocks of 4 rows
FCS = [(1, "NONE", True, True), (2, "RELU", False, True), (3, "RELU6", True, False),
       (4, "RELU_N1_TO_1", True, True), (5, "NONE", False, False), (8, "RELU", True, True),
       (10, "NONE", True, True), (13, "RELU6", False, True)]

# (input shape (batches, in_features), input quantization): in_features around words of 4 inputs
FC_INPUTS = [((1, 1), (0.05, -3)), ((2, 3), (0.7, 127)), ((1, 4), (0.002, -128)),
             ((3, 7), (0.1, 0)), ((1, 16), (0.02, 50)), ((2, 37), (0.04, -128))]


def _fc_model(x_shape, in_q, dtype: str, seed: int, fcs=FCS) -> bytes:
    """Every FULLY_CONNECTED of `fcs` side by side on x (output i: y{i})."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    batches, in_f = x_shape
    qargs = dict(scale=in_q[0], zero_point=in_q[1]) if dtype == "int8" else {}
    x = b.tensor("x", x_shape, dtype, **qargs)
    ys = []
    for i, (out_f, act, per_channel, has_bias) in enumerate(fcs):
        wf = rng.standard_normal((out_f, in_f)).astype(np.float32)
        bf = rng.standard_normal(out_f).astype(np.float32)
        if dtype == "float32":
            w, bias = b.const(f"w{i}", wf), b.const(f"b{i}", bf) if has_bias else -1
            y = b.tensor(f"y{i}", (batches, out_f), "float32")
        else:
            wq, ws = quantize_weights_per_channel(wf, 0)
            if not per_channel:
                ws = np.full(1, np.abs(wf).max() / 127, np.float32)
                wq = np.clip(np.round(wf / ws[0]), -127, 127).astype(np.int8)
            w = b.const(f"w{i}", wq, scale=ws, zero_point=0, axis=0)
            bq, bs = quantize_bias(bf * 4, in_q[0], np.broadcast_to(ws, (out_f,)))
            bias = b.const(f"b{i}", bq, scale=bs, zero_point=0, axis=0) if has_bias else -1
            out_s = in_q[0] * float(ws.max()) * 40 * math.sqrt(in_f)
            y = b.tensor(f"y{i}", (batches, out_f), "int8", scale=out_s, zero_point=i * 9 - 30)
        b.op("FULLY_CONNECTED", [x, w, bias], [y], activation=act)
        ys.append(y)
    b.inputs([x])
    b.outputs(ys)
    return b.build()


@pytest.mark.parametrize("shape,in_q", FC_INPUTS)
@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_fully_connected_shapes(shape, in_q, dtype, tmp_path):
    """Row blocks of 4 and their remainder, words of 4 inputs and their tail, batches."""
    _check(_fc_model(shape, in_q, dtype, seed=13), _samples(shape, dtype, seed=14), tmp_path)


def test_fully_connected_sanitizers(tmp_path):
    shape, in_q = (2, 37), (0.04, -128)
    model = _fc_model(shape, in_q, "int8", seed=15)
    (x,) = _samples(shape, "int8", seed=16, n=1)[0]
    got, want = _run_sanitized(model, x, tmp_path), run_tflm(model, [x])
    assert len(got) == len(want) and all(np.array_equal(g, w) for g, w in zip(got, want))


def test_grouped_convolution_is_refused(tmp_path):
    b = ModelBuilder()
    x = b.tensor("x", (1, 4, 4, 4), "float32")
    w = b.const("w", np.ones((2, 3, 3, 2), np.float32))
    y = b.tensor("y", (1, 4, 4, 2), "float32")
    b.op("CONV_2D", [x, w, -1], [y])
    b.inputs([x])
    b.outputs([y])
    path = tmp_path / "grouped.tflite"
    path.write_bytes(b.build())
    with pytest.raises(UnsupportedOperator, match="grouped convolution"):
        harness.compile_and_run(path, [], tmp_path)


def test_hybrid_model_is_refused():
    """int8 weights with float32 activations: TFLM refuses the model too, so there is no reference; the
    one-line error says what to compile instead."""
    graph = load_model(shared_model("mlperf_tiny/kws_ref_model_float32"))
    with pytest.raises(UnsupportedOperator, match=r"^CONV_2D \(operator 0, .*\): int8 weights with float32 "
                       r"activations \(hybrid\) are not supported, as in TFLM: compile the model's int8 version, "
                       r"or quantize its float32 original \(microc quantize\)$"):
        generate(graph, "m")


@pytest.mark.parametrize("src", ["mc_conv2d.c", "mc_depthwise_conv2d.c", "mc_fully_connected.c"])
def test_kernels_cross_compile_for_cortex_m4(src, tmp_path):
    cmd = ["arm-none-eabi-gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-mcpu=cortex-m4",
           "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", f"-I{RUNTIME_C / 'include'}", "-c",
           str(RUNTIME_C / "src" / src), "-o", str(tmp_path / "k.o")]
    subprocess.run(cmd, check=True, capture_output=True, text=True)


# ---- the convolutions of the real models, each as its own operator on a random input ----

def _layers_model(graph) -> tuple[bytes, list]:
    """Every CONV_2D / DEPTHWISE_CONV_2D of `graph` with its own weights and quantization, each on
    its own model input: the real layer shapes without needing the other operator families."""
    b = ModelBuilder()
    ins, outs, shapes = [], [], []

    def tensor(t, name):
        q = {} if t.quant is None else dict(scale=t.quant.scale, zero_point=t.quant.zero_point,
                                             axis=t.quant.axis or 0)
        if t.is_const:
            return b.const(name, t.data, dtype=t.dtype, **q)
        return b.tensor(name, t.shape, t.dtype, **q)

    for i, op in enumerate(o for o in graph.ops if o.type in ("CONV_2D", "DEPTHWISE_CONV_2D")):
        ids = [tensor(t, f"{k}{i}") if t is not None else -1
               for k, t in zip("xwb", op.inputs)]
        y = tensor(op.outputs[0], f"y{i}")
        opts = {k: op.attrs[k] for k in ("padding", "stride", "dilation", "activation")}
        if op.type == "DEPTHWISE_CONV_2D":
            opts["depth_multiplier"] = op.attrs["depth_multiplier"]
        b.op(op.type, ids, [y], **opts)
        ins.append(ids[0])
        outs.append(y)
        shapes.append((op.inputs[0].shape, op.inputs[0].dtype))
    b.inputs(ins)
    b.outputs(outs)
    return b.build(), shapes


@pytest.mark.parametrize("name", ["mlperf_tiny/kws_ref_model", "mlperf_tiny/vww_96_int8",
                                  "mlperf_tiny/pretrainedResnet_quant", "mlperf_tiny/vww_96_float",
                                  "mlperf_tiny/pretrainedResnet"])
def test_real_model_layers(name, tmp_path):
    model, shapes = _layers_model(load_model(shared_model(name)))
    rng = np.random.default_rng(11)
    samples = []
    for fill in ("random", -128, 127):
        if shapes[0][1] == "float32" and fill != "random":
            break
        samples.append([rng.standard_normal(s).astype(np.float32) if d == "float32" else
                        rng.integers(-128, 127, s, endpoint=True, dtype=np.int8) if fill == "random"
                        else np.full(s, fill, np.int8) for s, d in shapes])
    _check(model, samples, tmp_path)


_REQUANT_CHECK = r"""
#include <stdio.h>
#include "mc_common.h"
static uint64_t s = 88172645463325252ull;
static uint32_t rnd(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return (uint32_t)s; }
int main(void) {
  static const int32_t edge[] = {0, 1, -1, 2, -2, INT32_MIN, INT32_MAX, INT32_MIN + 1, INT32_MAX - 1,
                                 1 << 30, -(1 << 30), (1 << 30) + 1, -(1 << 30) - 1, 65536, -65536};
  const int ne = sizeof edge / sizeof edge[0];
  long bad = 0, i;
  for (i = 0; i < 4000000; ++i) {
    const uint32_t r = rnd();
    const int32_t x = (r & 1) ? (int32_t)rnd() >> (rnd() % 32) : edge[rnd() % ne];
    const int32_t m = (r & 2) ? (int32_t)rnd() : (r & 4) ? edge[rnd() % ne] : (int32_t)(rnd() >> 1);
    const int32_t sh = (int32_t)(rnd() % 63) - 31;
    const int32_t left = sh > 0 ? sh : 0, right = sh > 0 ? 0 : -sh;
    const int32_t two_step = mc_rounding_divide_by_pot(mc_srdhm((int32_t)((uint32_t)x << left), m), right);
    bad += mc_requantize(x, m, sh) != two_step;
  }
  printf("%ld\n", bad);
  return bad != 0;
}
"""


def test_requantize_equals_tflite_two_step_form(tmp_path):
    """mc_requantize's single-pass form against SRDHM + RoundingDivideByPOT, TFLite's definition."""
    (tmp_path / "rq.c").write_text(_REQUANT_CHECK)
    subprocess.run(["gcc", "-std=c99", "-O1", *harness.SANITIZE, f"-I{RUNTIME_C / 'include'}",
                    str(tmp_path / "rq.c"), "-o", str(tmp_path / "rq")], check=True)
    res = subprocess.run([str(tmp_path / "rq")], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "0", res.stdout + res.stderr


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="qemu-system-arm and arm-none-eabi-gcc are needed for the Cortex-M4 run")
@pytest.mark.parametrize("shape,in_q", [((2, 5, 7, 6), (0.05, -3)), ((1, 6, 7, 17), (0.02, 50))])
def test_dsp_kernels_exact_on_cortex_m4(shape, in_q, tmp_path):
    """The SMLAD/SXTB16 paths exist only on DSP targets: run every variant of both kernels on QEMU's
    Cortex-M4F (mps2-an386), each output verified against TFLM by `microc deploy --verify`."""
    path = tmp_path / "m.tflite"
    path.write_bytes(_model(shape, in_q, CONVS, False, "int8", seed=12, dw_convs=DW_CONVS))
    res = subprocess.run([sys.executable, "-m", "microc", "deploy", str(path), "--board", "mps2-an386",
                          "-n", "2", "--verify", "--json", "-o", str(tmp_path / "p")],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout)
    assert report["match"] and report["max_abs_diff"] == 0 and report["outputs_checked"] > 0


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="qemu-system-arm and arm-none-eabi-gcc are needed for the Cortex-M4 run")
def test_dsp_fully_connected_exact_on_cortex_m4(tmp_path):
    """FULLY_CONNECTED's SMLAD paths on QEMU's Cortex-M4F, verified against TFLM by `microc deploy
    --verify`, in one firmware (two batches of 37 inputs: words of 4 and a tail): int16 weights (widened
    inputs) on 3, 5, 10, 13 and 21 rows (blocks of 4 in assembly, remainders of 1 to 3, past a group of
    16), int8 weights on 1, 2, 4, 8 and 19 rows. (More parallel layers make the planner's order search
    slow.)"""
    fcs = FCS + [(21, "RELU", True, True), (19, "NONE", False, True)]
    wide = {2, 4, 6, 7, 8}  # outputs y{i} with int16 weights
    path = tmp_path / "m.tflite"
    path.write_bytes(_fc_model((2, 37), (0.04, -128), "int8", seed=17, fcs=fcs))
    ordered = memory_order(load_model(path))
    args = [a for step, op in enumerate(ordered.ops) for a in
            ("--schedule", f"{step}:weights=" + ("int16" if int(op.outputs[0].name[1:]) in wide else "int8"))]
    res = subprocess.run([sys.executable, "-m", "microc", "deploy", str(path), "--board", "mps2-an386",
                          "-n", "2", "--verify", "--json", "-o", str(tmp_path / "p"), *args],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout)
    assert report["match"] and report["max_abs_diff"] == 0 and report["outputs_checked"] > 0
    layers = json.loads((tmp_path / "p" / "metadata.json").read_text())["layers"]
    assert sorted(l["schedule"]["weights"] for l in layers) == ["int16"] * 5 + ["int8"] * 5
