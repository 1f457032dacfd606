"""The Helium (MVE) kernels of the Cortex-M55 (runtime_c/include/mc_mve.h, mc_pool.h), selected on boards with MVE
(mps3-an547): each operator's edge cases (odd channel counts for the vector tails, padding, strides,
dilation, per-channel and per-tensor quantization, every fused activation, batches) run on QEMU's
Cortex-M55 and verified bit for bit against TFLite Micro by `microc deploy --verify`; the vector
requantization against the scalar one; and the other boards untouched."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from shared_models import shared_model
from test_boards import _run_test_firmware
from test_schedules import _arg, _conv_model, schedule_variants
from test_ops_conv import CONVS, DW_CONVS, Conv, _fc_model, _model
from test_ops_elementwise import add_binary
from test_ops_pool import ACTIVATIONS, POOL_CASES, add_pool, models_of
from tflite_builder import ModelBuilder

from microc import RUNTIME_C
from microc.codegen.schedule import isas_of
from microc.pipeline import compile_model

BOARD = "mps3-an547"
MVE_SOURCES = sorted(p.name for p in (RUNTIME_C / "src").glob("mc_*_mve.c"))

needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="qemu-system-arm and arm-none-eabi-gcc are needed for the Cortex-M55 runs")


def _deploy(model: bytes, tmp_path: Path, args: list[str] = ()) -> str:
    """Deploy on mps3-an547 with --verify (and `args`); every output must match TFLM. Returns the
    model's C."""
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    project = tmp_path / "p"
    res = subprocess.run([sys.executable, "-m", "microc", "deploy", str(path), "--board", BOARD, "-n", "2",
                          "--verify", "--json", "-o", str(project), *args],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout)
    assert report["match"] and report["max_abs_diff"] == 0 and report["outputs_checked"] > 0
    return "".join(p.read_text() for p in (project / "model").glob("*.c"))


def _calls(source: str) -> dict[str, int]:
    """Layers per kernel: distinct parameter structs passed to each (a call may be written twice)."""
    calls = set(re.findall(r"\b(mc_\w+)\(&(\w+)", source))
    kernels = [k for k, _ in calls]
    return {k: kernels.count(k) for k in set(kernels)}


@needs_qemu
@pytest.mark.parametrize("shape,in_q", [((2, 5, 7, 6), (0.05, -3)), ((1, 6, 7, 17), (0.02, 50)),
                                        ((1, 7, 9, 5), (0.7, 127))])
def test_convolutions_exact_on_cortex_m55(shape, in_q, tmp_path):
    """Every CONV_2D of CONVS (3, 5, 7 output channels: the last block of 4 partial; 5 and 17 input
    channels: rows of 15..51 values, partial vectors; gathered and in-place patches) and every
    DEPTHWISE_CONV_2D of DW_CONVS (6, 17, 5 channels: partial blocks of 8; the depth multipliers
    above 1 stay on the portable kernel)."""
    source = _deploy(_model(shape, in_q, CONVS, False, "int8", seed=21, dw_convs=DW_CONVS), tmp_path)
    calls = _calls(source)
    assert "mc_conv2d_s8" not in calls and calls["mc_conv2d_s8_mve"] >= 6
    assert calls["mc_depthwise_conv2d_s8_mve"] >= 4 and calls["mc_depthwise_conv2d_s8"] >= 2


@needs_qemu
@pytest.mark.parametrize("shape_index", [0, 4])
def test_every_schedule_exact_on_cortex_m55(shape_index, tmp_path):
    """Every candidate schedule of every layer on the M55's paths (MVE with im2col or in place, and
    DSP), verified by `microc deploy --verify`; each layer's metadata records the schedule asked for."""
    model, _ = _conv_model(shape_index)
    variants = schedule_variants(model, tmp_path, isas_of({"dsp": True, "mve": "float"}))
    assert any(s.isa == "mve" and s.im2col for v in variants for s in v.values() if hasattr(s, "im2col"))
    for i, variant in enumerate(variants):
        project = tmp_path / f"p{i}"
        _deploy(model, project, [a for step, s in variant.items() for a in _arg(step, s)])
        layers = json.loads((project / "p" / "metadata.json").read_text())["layers"]
        assert {step: layers[step]["schedule"] for step in variant} == {step: s.knobs() for step, s in variant.items()}


@needs_qemu
def test_every_activation_and_wide_channels_on_cortex_m55(tmp_path):
    """Each fused activation on both convolutions, 1x1 and 3x3 CONV_2D over 40 input channels (two
    full vectors and a half), and 64-channel depthwise (blocks of 8 and 4 of the GEMM)."""
    shape, in_q = (1, 6, 6, 40), (0.03, 10)
    convs = [Conv((3, 3), 9, activation=a, out_scale=0.3) for a in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")]
    convs += [Conv((1, 1), 64, padding="VALID", out_scale=0.5), Conv((1, 1), 13, stride=(2, 2))]
    dws = [Conv((3, 3), 1, activation=a, out_scale=0.3) for a in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")]
    _deploy(_model(shape, in_q, convs, False, "int8", seed=22, dw_convs=dws), tmp_path)


@needs_qemu
@pytest.mark.parametrize("shape,in_q", [((2, 37), (0.04, -128)), ((3, 7), (0.1, 0)), ((1, 16), (0.02, 50))])
def test_fully_connected_exact_on_cortex_m55(shape, in_q, tmp_path):
    """FULLY_CONNECTED with 1..13 rows (partial blocks of 4), 7..37 inputs (partial vectors), batches of
    1..3 (pairs and a single), every activation, per-channel and per-tensor, bias or not."""
    source = _deploy(_fc_model(shape, in_q, "int8", seed=23), tmp_path)
    assert _calls(source) == {"mc_fully_connected_s8_mve": 8}


@needs_qemu
def test_add_exact_on_cortex_m55(tmp_path):
    """Same-shape ADD and SUB (the Helium kernel, 4-element vectors and a scalar tail of 1..3) with every
    activation; a broadcast one stays on the portable kernel."""
    acts = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
    model, feeds = models_of("int8", [(["ADD", "SUB"], (1, 5, 3, 3), (1, 5, 3, 3), acts),
                                      (["ADD"], (2, 7), (2, 7), ("RELU",)),
                                      (["ADD"], (1, 4, 4, 3), (3,), ("NONE",))], add_binary)
    calls = _calls(_deploy(model, tmp_path))
    assert calls == {"mc_add_s8_mve": 9, "mc_add_s8": 1}


@needs_qemu
def test_average_pool_exact_on_cortex_m55(tmp_path):
    """AVERAGE_POOL_2D over POOL_CASES (1..16 channels: partial blocks of 4; padded windows, strides,
    global pooling) with every activation, and extreme quantizations."""
    cases = [("AVERAGE_POOL_2D", *c, ACTIVATIONS[k % len(ACTIVATIONS)]) for k, c in enumerate(POOL_CASES)]
    cases += [("AVERAGE_POOL_2D", (1, 5, 5, 3), (3, 3), (1, 1), "SAME", act, q) for act in ACTIVATIONS
              for q in [(1e-3, -128), (4.0, 127)]]
    model, _ = models_of("int8", cases, add_pool)
    assert _calls(_deploy(model, tmp_path)) == {"mc_avg_pool_s8_mve": len(cases)}


@needs_qemu
def test_vector_requantization_equals_the_scalar_one(tmp_path):
    """tests/c/mve_requant.c on QEMU's Cortex-M55: 240,000 lanes of VQRDMULH + rounding VRSHL against
    mc_requantize (TFLite's double rounding), and ADD's output rescale against mc_requantize_down."""
    status, text = _run_test_firmware(BOARD, "mve_requant.c", tmp_path)
    assert (status, text.split()) == (0, ["ok"]), text


def test_other_boards_get_no_mve_kernels(tmp_path):
    """A Cortex-M4 project calls no Helium kernel and carries none of their sources."""
    project = tmp_path / "m4"
    compile_model(shared_model("mlperf_tiny/kws_ref_model"), "mps2-an386", project)
    assert "_mve(" not in (project / "model" / "kws_ref_model.c").read_text()
    assert not set(MVE_SOURCES) & {p.name for p in (project / "runtime" / "src").iterdir()}


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc is needed")
@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m55"])
def test_mve_sources_compile_to_nothing_without_mve(cpu, tmp_path):
    """Without __ARM_FEATURE_MVE (the M4; the M55 built with +nomve) the Helium sources are empty."""
    flags = ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16"] if cpu == "cortex-m4" else ["-mcpu=cortex-m55+nomve"]
    for src in MVE_SOURCES:
        obj = tmp_path / f"{src}.o"
        subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", *flags, "-mthumb",
                        "-mfloat-abi=hard", f"-I{RUNTIME_C / 'include'}", "-c", str(RUNTIME_C / "src" / src),
                        "-o", str(obj)], check=True, capture_output=True, text=True)
        size = subprocess.run(["arm-none-eabi-size", "-A", str(obj)], capture_output=True, text=True).stdout
        assert re.search(r"^\.text\s+0\s", size, re.M), size


@needs_qemu
def test_int16_kernels_exact_on_cortex_m55(tmp_path):
    """The 16x8 CONV_2D, FULLY_CONNECTED and TRANSPOSE_CONV on Helium (int8 weights widened on load,
    int64 sums by VMLALDAVA) over test_ops_int16.long_sums_model: 6 TRANSPOSE_CONV (strides, output
    padding, in_c 2..4: partial vectors), a CONV_2D of 600-value patches, an FC whose sums pass 2^31."""
    from test_ops_int16 import long_sums_model
    calls = _calls(_deploy(long_sums_model()[0], tmp_path))
    assert calls == {"mc_transpose_conv_s16_mve": 6, "mc_conv2d_gemm_s16_mve": 1, "mc_fully_connected_s16_mve": 1}
