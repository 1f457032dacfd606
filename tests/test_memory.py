"""--optimize on the shared models: the arena each mode plans (exact figures), and every mode bit-exact
with TensorFlow Lite Micro on the host under ASan/UBSan."""
from __future__ import annotations

import shutil
from dataclasses import replace
import subprocess

import numpy as np
import pytest

import harness
from test_ops_conv import Conv, _add_conv
from tflite_builder import ModelBuilder, run_tflm
from shared_models import INT8, shared_model
from microc import RUNTIME_C
from microc.bench import stack_reserve
from microc.boards import load_board
from microc.build import build_project
from microc.codegen.generate import generate
from microc.codegen.schedule import isas_of
from microc.frontends import load_model
from microc.passes.order import memory_order
from microc.errors import DoesNotFit
from microc.pipeline import _generate_fitting, compile_model, read_metadata
from microc.project.fit import memory_needs
from microc.reference import reference_outputs
from microc.runner.session import run_project
from microc.verify import Comparison, make_samples

# (arena, layer-wise lower bound) per --optimize mode on the shared int8 models.
ARENA = {
    "mlperf_tiny/kws_ref_model": {"speed": (16000, 16000), "balanced": (16000, 16000),
                                  "memory": (8576, 8570)},
    "mlperf_tiny/vww_96_int8": {"speed": (55312, 55312), "balanced": (55312, 55312),
                                "memory": (39568, 39568)},
    "mlperf_tiny/pretrainedResnet_quant": {"speed": (49152, 49152), "balanced": (49152, 49152),
                                           "memory": (23040, 23040)},
    "mlperf_tiny/ad01_int8": {"speed": (768, 768), "balanced": (768, 768), "memory": (768, 768)},
    "tflm/hello_world_int8": {"speed": (32, 32), "balanced": (32, 32), "memory": (32, 32)},
}
MODES = ("speed", "balanced", "memory")
# On the Cortex-M4 (the DSP schedules) the first convolutions of KWS and VWW run the gemm kernel, whose
# patches live on the stack instead of the arena's scratch.
ARENA_M4 = {("mlperf_tiny/kws_ref_model", "memory"): (8496, 8490),
            ("mlperf_tiny/vww_96_int8", "memory"): (39552, 39552)}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", INT8)
def test_arena_per_mode(name, mode):
    plan = generate(load_model(shared_model(name)), "m", mode).plan
    assert (plan.arena_bytes, plan.lower_bound_bytes) == ARENA[name][mode]


@pytest.mark.parametrize("mode", ["memory"])
@pytest.mark.parametrize("name", INT8)
def test_bit_exact_under_sanitizers(name, mode, tmp_path):
    model_path = shared_model(name)
    inputs = generate(load_model(model_path), "m").metadata["inputs"]
    samples = make_samples(inputs, 2, seed=3)[:3]
    outs = harness.compile_and_run_sanitized(model_path, samples, tmp_path, mode)
    for got, sample in zip(outs, samples):
        want = reference_outputs(model_path, sample, len(got))
        comparison = Comparison()
        assert comparison.add(got, want), f"max abs diff {comparison.max_abs_diff}"
        assert comparison.max_abs_diff == 0


# balanced (the default) runs in tests/test_qemu_shared.py; speed differs from it only where an
# element-wise operator runs in place (the residual ADDs of pretrainedResnet_quant).
QEMU_CASES = [(m, "memory") for m in INT8] + [("mlperf_tiny/pretrainedResnet_quant", "speed")]


@pytest.mark.parametrize("name,mode", QEMU_CASES, ids=[f"{m.split('/')[1]}-{o}" for m, o in QEMU_CASES])
def test_bit_exact_on_qemu_mps2_an386(name, mode, tmp_path):
    path = shared_model(name)
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    project = tmp_path / "proj"
    res = compile_model(path, "mps2-an386", project, optimize=mode)
    want = ARENA_M4.get((name, mode), ARENA[name][mode])
    assert (res.metadata["arena_bytes"], res.metadata["lower_bound_bytes"]) == want
    assert res.metadata["optimize"] == mode
    build_project(project)
    report = run_project(project, samples=2, seed=5, verify=True)
    assert report.match is True and report.comparison.max_abs_diff == 0
    # the measured stack, then the same firmware with only that stack (plus the margin) reserved
    measured = report.stack_bytes
    assert 256 < measured < 8192  # the gemm schedule keeps a layer's patches on the stack (IC: ~4.5 KB)
    assert read_metadata(project)["stack_bytes"] == measured
    compile_model(path, "mps2-an386", project, optimize=mode, stack_bytes=stack_reserve(measured))
    build = build_project(project)
    again = run_project(project, samples=2, seed=5, verify=True)
    assert again.match is True and again.stack_bytes == measured
    assert read_metadata(project)["stack_reserve_bytes"] == stack_reserve(measured)
    assert build.ram_bytes < res.metadata["arena_bytes"] + stack_reserve(measured) + 4096


def _static_frames(tmp_path) -> dict[str, int]:
    """gcc -fstack-usage: each runtime function's own frame on the Cortex-M4 (static, no callees)."""
    frames = {}
    for src in (RUNTIME_C / "src").glob("mc_*.c"):
        obj = tmp_path / (src.stem + ".o")
        subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-O2", "-fstack-usage", *load_board("mps2-an386")
                        .toolchain.cflags, f"-I{RUNTIME_C / 'include'}", "-c", str(src), "-o", str(obj)],
                       check=True, capture_output=True, text=True)
        for line in obj.with_suffix(".su").read_text().splitlines():
            where, size, _ = line.split("\t")
            frames[where.rsplit(":", 1)[-1]] = int(size)
    return frames


def test_measured_stack_covers_the_static_frames(tmp_path):
    """Cross-check of the paint: the stack a KWS inference used on QEMU is at least the deepest chain of
    static frames it must have gone through (invoke -> a kernel -> its helpers)."""
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("arm-none-eabi-gcc and qemu-system-arm are needed (scripts/setup.sh installs them)")
    frames = _static_frames(tmp_path)
    project = tmp_path / "proj"
    compile_model(shared_model("mlperf_tiny/kws_ref_model"), "mps2-an386", project)
    build_project(project)
    measured = run_project(project, samples=1, seed=5).stack_bytes
    depthwise = frames["mc_depthwise_conv2d_s8"] + frames["dw_pixel_s8"] + frames["mc_requantize_row_s8"]
    assert frames["mc_depthwise_conv2d_s8"] >= 400  # its two tap lists, 2 x 200 bytes
    # the first layer's gemm kernel (its schedule on the M4): patches and widened values on the stack
    gemm = frames["mc_conv2d_gemm_w16_s8"] + frames["pixel_pair_w16"] + frames["mc_requantize_row_s8"]
    chain = max(depthwise, gemm)
    assert chain < measured < chain + 2048


def _board_with_ram(ram_bytes: int):
    board = load_board("mps2-an386")
    return replace(board, memory={**board.memory, "ram": replace(board.memory["ram"], size=ram_bytes)})


def test_balanced_compiles_as_memory_when_the_model_would_not_fit_otherwise(tmp_path):
    path = shared_model("mlperf_tiny/kws_ref_model")
    graph = load_model(path)
    m4 = load_board("mps2-an386")
    small = memory_needs(generate(graph, "m", "memory", isas=isas_of(m4.features)), m4)
    arena = ARENA_M4[("mlperf_tiny/kws_ref_model", "memory")][0]
    ram = small["data"] + small["arena"] + small["stack"]  # room for --optimize memory's arena only
    board = _board_with_ram(ram)
    model = _generate_fitting(graph, "m", board, "balanced", None)
    assert model.metadata["optimize"] == "memory" and model.plan.arena_bytes == arena
    with pytest.raises(DoesNotFit, match=f"model needs {ram - arena + 16000:,} bytes of RAM"):
        _generate_fitting(graph, "m", board, "speed", None)  # speed never trades instructions for memory
    with pytest.raises(DoesNotFit, match=f"model needs {ram - arena + 16000:,} bytes of RAM"):
        _generate_fitting(graph, "m", _board_with_ram(ram - 16), "balanced", None)  # the figures asked for


# In-place convolutions on the host, bit for bit with TFLM under ASan/UBSan: each conv reads the output
# of a QUANTIZE (not the graph input, which is never overwritten), so it runs in place.
INPLACE_CONVS = [  # (depthwise, Conv)
    (False, Conv((3, 3), 4)), (False, Conv((3, 3), 3, padding="VALID", activation="RELU")),
    (False, Conv((5, 5), 2, out_scale=0.01)), (False, Conv((3, 3), 5, stride=(1, 2), out_zp=-128)),
    (False, Conv((3, 2), 3, dilation=(1, 2), per_channel=False)), (False, Conv((1, 1), 9)),
    (False, Conv((1, 1), 2, activation="RELU6", bias=False)), (False, Conv((2, 3), 1, padding="VALID")),
    (True, Conv((3, 3), 1)), (True, Conv((3, 3), 1, stride=(2, 2), activation="RELU")),
    (True, Conv((3, 3), 1, padding="VALID", per_channel=False)), (True, Conv((5, 3), 1, stride=(2, 1))),
    (True, Conv((3, 3), 1, dilation=(2, 2), out_zp=127)), (True, Conv((1, 1), 1, activation="RELU6")),
]


@pytest.mark.parametrize("shape,in_q", [((1, 7, 9, 5), (0.05, -3)), ((1, 9, 4, 16), (0.7, 127))])
def test_in_place_convolutions_bit_exact(shape, in_q, tmp_path):
    rng = np.random.default_rng(11)
    b = ModelBuilder()
    x = b.tensor("x", shape, "int8", scale=in_q[0], zero_point=in_q[1])
    ys = []
    for i, (depthwise, conv) in enumerate(INPLACE_CONVS):
        q = b.tensor(f"q{i}", shape, "int8", scale=in_q[0] * 1.5, zero_point=in_q[1] // 2)
        b.op("QUANTIZE", [x], [q])
        ys.append(_add_conv(b, q, shape, (in_q[0] * 1.5, in_q[1] // 2), conv, depthwise, "int8", rng, i))
    b.inputs([x])
    b.outputs(ys)
    path = tmp_path / "model.tflite"
    path.write_bytes(b.build())
    plan = generate(load_model(path), "m", "memory").plan
    graph = memory_order(load_model(path))
    convs = [s for s, op in enumerate(graph.ops) if op.type != "QUANTIZE"]
    assert sorted(plan.in_place) == convs  # every convolution runs in place
    samples = [[rng.integers(-128, 127, shape, endpoint=True, dtype=np.int8)],
               [np.full(shape, -128, np.int8)], [np.full(shape, 127, np.int8)]]
    for sample, got in zip(samples, harness.compile_and_run_sanitized(path, samples, tmp_path, "memory")):
        for g, w in zip(got, run_tflm(path.read_bytes(), sample)):
            assert np.array_equal(g, w)
