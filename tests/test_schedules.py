"""Schedules (microc/codegen/schedule.py): every candidate schedule of every scheduled layer of the
operator edge-case models runs bit-exact with TFLite Micro on the host (portable C, and under
ASan/UBSan) and on QEMU's Cortex-M4 (the DSP path); the chosen schedules are recorded in
metadata.json; bad requests are one-line errors."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import harness
import numpy as np
import pytest
from test_cli_errors import assert_one_line_error, microc
from test_ops_conv import CONVS, DW_CONVS, FC_INPUTS, FCS, INPUTS, _check, _fc_model, _model, _samples
from tflite_builder import run_tflm

from microc.codegen.generate import generate, schedule_choices
from microc.codegen.schedule import ConvSchedule, FcSchedule, isas_of
from microc.errors import MicrocError
from microc.frontends import load_model


def schedule_variants(model: bytes, tmp_path, isas=("portable",)) -> list[dict]:
    """Requests {step: schedule} that together give every layer each of its candidates once."""
    path = tmp_path / "variants.tflite"
    path.write_bytes(model)
    choices = schedule_choices(load_model(path), isas)
    n = max((len(c) for c in choices.values()), default=1)
    return [{step: c[i % len(c)] for step, c in choices.items()} for i in range(n)]


def _conv_model(shape_index: int, dtype: str = "int8") -> tuple[bytes, tuple]:
    shape, in_q = INPUTS[shape_index]
    return _model(shape, in_q, CONVS, False, dtype, seed=21, dw_convs=DW_CONVS), shape


@pytest.mark.parametrize("shape_index", [0, 1, 4])
def test_every_schedule_exact_on_host(shape_index, tmp_path):
    model, shape = _conv_model(shape_index)
    variants = schedule_variants(model, tmp_path)
    assert len(variants) >= 3  # CONV_2D: in place, im2col, 1x1
    for i, variant in enumerate(variants):
        work = tmp_path / f"v{i}"
        work.mkdir()
        _check(model, _samples(shape, "int8", seed=22), work, schedules=variant)


def test_every_schedule_sanitized(tmp_path):
    model, shape = _conv_model(1)
    (x,) = _samples(shape, "int8", seed=23, n=1)[0]
    want = run_tflm(model, [x])
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    for i, variant in enumerate(schedule_variants(model, tmp_path)):
        work = tmp_path / f"v{i}"
        work.mkdir()
        got = harness.compile_and_run_sanitized(path, [[x]], work, schedules=variant)[0]
        for g, w in zip(got, want, strict=True):
            assert np.array_equal(g, w)


def _fc_int16(model: bytes, tmp_path) -> list[dict]:
    """The FC model's two variants: every layer with int8 weights (the host's default, which
    test_ops_conv runs on FCS), every layer with int16 weights."""
    variants = schedule_variants(model, tmp_path)
    assert [{s.weights for s in v.values()} for v in variants] == [{"int8"}, {"int16"}]
    return variants


# FCS with 21 rows instead of 13: past a group of 16 rows requantized together
FCS_GROUP = FCS[:7] + [(21, "RELU6", False, True)]


@pytest.mark.parametrize("shape_index", [1, 5])  # (2, 3), (2, 37): tails, whole words, batches
def test_fc_int16_weights_exact_on_host(shape_index, tmp_path):
    """FULLY_CONNECTED with int16 weights (portable C) against TFLM, 1 to 21 rows."""
    shape, in_q = FC_INPUTS[shape_index]
    model = _fc_model(shape, in_q, "int8", seed=24, fcs=FCS_GROUP)
    _check(model, _samples(shape, "int8", seed=25), tmp_path, schedules=_fc_int16(model, tmp_path)[1])


def test_fc_schedules_sanitized(tmp_path):
    """int8 and int16 weights under ASan/UBSan, 1 to 21 rows."""
    shape, in_q = FC_INPUTS[4]  # (1, 16)
    model = _fc_model(shape, in_q, "int8", seed=26, fcs=FCS_GROUP)
    (x,) = _samples(shape, "int8", seed=27, n=1)[0]
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    want = run_tflm(model, [x])
    for i, variant in enumerate(_fc_int16(model, tmp_path)):
        work = tmp_path / f"v{i}"
        work.mkdir()
        got = harness.compile_and_run_sanitized(path, [[x]], work, schedules=variant)[0]
        assert len(got) == len(want) and all(np.array_equal(g, w) for g, w in zip(got, want))


def test_fc_defaults(tmp_path):
    """int16 weights by default on DSP targets up to 16 KB of weights (AD's 128 x 128 layers), int8
    above (its 640 x 128 ones) and on the portable path; the Helium kernel first on the M55."""
    from microc.tuning.apply import layer_keys
    from shared_models import shared_model
    graph = load_model(shared_model("mlperf_tiny/ad01_int8"))
    def defaults(isas):
        return [c[2][0] for c in layer_keys(graph, isas).values()]
    dsp = defaults(("dsp",))
    assert [s.weights for s in dsp] == ["int8"] + ["int16"] * 8 + ["int8"]
    assert all(s == FcSchedule("portable") for s in defaults(("portable",)))
    assert all(s.isa == "mve" for s in defaults(("dsp", "mve")))
    assert [len(c[2]) for c in layer_keys(graph, ("dsp", "mve")).values()] == [3] * 10


def _arg(step: int, schedule) -> list[str]:
    return ["--schedule", f"{step}:" + ",".join(f"{k}={v}" for k, v in schedule.knobs().items())]


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="qemu-system-arm and arm-none-eabi-gcc are needed for the Cortex-M4 run")
@pytest.mark.parametrize("shape_index", [2, 4])  # 8 channels (int16 1x1 weights), 17 (tails)
def test_every_schedule_exact_on_cortex_m4(shape_index, tmp_path):
    """The DSP path of every candidate on QEMU's mps2-an386, verified by `microc deploy --verify`,
    and each layer's metadata records the schedule asked for."""
    model, _ = _conv_model(shape_index)
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    for i, variant in enumerate(schedule_variants(model, tmp_path, isas_of({"dsp": True}))):
        out = tmp_path / f"p{i}"
        args = [a for step, s in variant.items() for a in _arg(step, s)]
        res = subprocess.run([sys.executable, "-m", "microc", "deploy", str(path), "--board", "mps2-an386",
                              "-n", "2", "--verify", "--json", "-o", str(out), *args],
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
        report = json.loads(res.stdout)
        assert report["match"] and report["max_abs_diff"] == 0 and report["outputs_checked"] > 0
        layers = json.loads((out / "metadata.json").read_text())["layers"]
        assert {step: layers[step]["schedule"] for step in variant} == \
            {step: s.knobs() for step, s in variant.items()}


def test_defaults_follow_the_board(tmp_path):
    model, _ = _conv_model(0)
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    graph = load_model(path)
    assert isas_of({"dsp": False, "mve": "none"}) == ("portable",)
    assert isas_of({"dsp": True, "mve": "none"}) == ("dsp",)
    assert isas_of({"dsp": True, "mve": "float"}) == ("dsp", "mve")
    for isas, isa in ((("portable",), "portable"), (("dsp",), "dsp")):
        layers = generate(graph, "m", isas=isas).metadata["layers"]
        assert {l["schedule"]["isa"] for l in layers} == {isa}
    # with MVE, the Helium kernels by default: every CONV_2D, the depthwise ones of multiplier 1
    helium = {op.name: op.type == "CONV_2D" or op.inputs[1].shape[-1] == op.inputs[0].shape[-1]
              for op in graph.ops}
    layers = generate(graph, "m", isas=("dsp", "mve")).metadata["layers"]
    assert {l["name"]: l["schedule"]["isa"] for l in layers} == \
        {name: "mve" if h else "dsp" for name, h in helium.items()}
    assert set(helium.values()) == {True, False}
    # the short-row heuristic: a 3x3 filter over 5 channels (15 values a row) gathers patches, a 5x5
    # one (25 values) reads in place
    layers = generate(graph, "m").metadata["layers"]
    by_name = {l["name"]: l["schedule"] for l in layers}
    generic = {"isa": "portable", "kernel": "generic", "weights": "int8"}
    assert by_name[_conv_name(graph, (3, 3))] == {**generic, "im2col": True}
    assert by_name[_conv_name(graph, (5, 5))] == {**generic, "im2col": False}
    # on the DSP path: the 1x1 kernel for 1x1 filters, gemm for the others, sign-extended weights
    by_name = {l["name"]: l["schedule"] for l in generate(graph, "m", isas=("dsp",)).metadata["layers"]}
    assert by_name[_conv_name(graph, (1, 1))] == {"isa": "dsp", "kernel": "1x1", "im2col": False,
                                                  "weights": "int8"}  # 5 input channels: no int16 pairs
    assert by_name[_conv_name(graph, (3, 3))] == {"isa": "dsp", "kernel": "gemm", "im2col": False,
                                                  "weights": "int16"}


def _conv_name(graph, k) -> str:
    return next(op.name for op in graph.ops if op.type == "CONV_2D" and op.inputs[1].shape[1:3] == k)


def test_requests_by_type_and_step(tmp_path):
    model, _ = _conv_model(0)
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    graph = load_model(path)
    layers = generate(graph, "m").metadata["layers"]  # steps in execution order
    convs = [l["index"] for l in layers if l["type"] == "CONV_2D"]
    meta = generate(graph, "m", schedules={"CONV_2D": {"im2col": "false"},
                                           convs[1]: ConvSchedule("portable", "generic", True)}).metadata
    assert [meta["layers"][i]["schedule"]["im2col"] for i in convs[:3]] == [False, True, False]
    with pytest.raises(MicrocError, match="not available for layer 0"):
        generate(graph, "m", schedules={0: ConvSchedule("dsp")})  # the host has no DSP path
    with pytest.raises(MicrocError, match="no scheduled layer"):
        generate(graph, "m", schedules={999: {"im2col": True}})


@pytest.mark.parametrize("spec,fragment", [("CONV_2D", "expected LAYER_OR_TYPE"),
                                           ("CONV_2D:nope=1", "unknown schedule knob(s) nope"),
                                           ("CONV_2D:im2col=maybe", "takes true or false"),
                                           ("TANH:isa=dsp", "no scheduled layer")])
def test_bad_schedule_is_one_line_error(spec, fragment, tmp_path):
    model, _ = _conv_model(0)
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    out = tmp_path / "out"
    assert_one_line_error(microc("compile", path, "--board", "host", "-o", out, "--schedule", spec),
                          fragment)
    assert not out.exists()
