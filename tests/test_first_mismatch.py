"""The first divergent layer: a project whose generated weights were edited by hand in one layer, rebuilt
and run with --verify --json, names that layer (host and QEMU; int8 and float); on an untouched project
every layer's output, read back one layer at a time, equals TensorFlow Lite Micro's."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from microc.pipeline import read_manifest, read_metadata
from microc.runner.host import HostDevice
from microc.verify import make_samples
from shared_models import shared_model


def microc(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "microc", *map(str, args)], capture_output=True, text=True,
                          timeout=900)


def deploy(model: Path, board: str, out: Path) -> dict:
    res = microc("deploy", model, "--board", board, "-o", out, "--verify", "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def alter_weight(project: Path, layer: int, new_value: str) -> str:
    """Replace the first value of layer `layer`'s weight array in model/*_weights.c (an Arduino project's
    library copy); the old value."""
    name = read_manifest(project)["name"]
    path = next(project.rglob(f"{name}_weights.c"))
    text = path.read_text()
    m = re.search(rf"\b{name}_l{layer}_w\[\d+\][^{{]*{{\s*([^,\s]+),", text)
    assert m, f"no weights for layer {layer}"
    path.write_text(text[:m.start(1)] + new_value + text[m.end(1):])
    return m.group(1)


def edit_and_find(model: Path, board: str, project: Path, layer: int, value: str, op: str) -> dict:
    """Deploy (it matches), set one weight of `layer` to `value`, rebuild and run --verify --json: the run
    fails and names `layer` (operator `op`, its output tensor) as the first that differs."""
    clean = deploy(model, board, project)
    assert clean["match"] is True and clean["first_mismatch"] is None
    assert alter_weight(project, layer, value) != value
    assert microc("build", project).returncode == 0
    res = microc("run", project, "--verify", "--json")
    run = json.loads(res.stdout)
    m = run["first_mismatch"]
    row = read_metadata(project)["layers"][layer]
    assert res.returncode == 1 and run["match"] is False
    assert (m["layer"], m["op"], m["tensor"]) == (layer, op, row["output_tensors"][0]["name"])
    size = int(np.prod(row["output"]))
    assert 1 <= m["differing"] <= size and 0 <= m["first_index"] < size and m["max_abs_diff"] > 0
    assert json.loads((project / "last_run.json").read_text())["first_mismatch"] == m
    return m


@pytest.mark.parametrize("board", ["host", pytest.param("mps2-an386", marks=pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None, reason="qemu-system-arm is not installed"))])
def test_kws_with_layer_3_weights_edited_names_layer_3(tmp_path, board):
    edit_and_find(shared_model("mlperf_tiny/kws_ref_model"), board, tmp_path / "kws", 3, "-128",
                  "DEPTHWISE_CONV_2D")


def test_float_model_with_layer_1_weights_edited_names_layer_1(tmp_path):
    edit_and_find(shared_model("tflm/hello_world_float"), "host", tmp_path / "hello", 1, "40.0f",
                  "FULLY_CONNECTED")


def test_an_untouched_project_agrees_with_tflm_at_every_layer(tmp_path):
    """Layer by layer on the device against TFLM's intermediate tensors: no layer differs (VWW: 31
    layers of conv, depthwise, pool, reshape, FC and softmax)."""
    from microc.divergence import first_mismatch
    project = tmp_path / "vww"
    deploy(shared_model("mlperf_tiny/vww_96_int8"), "host", project)
    metadata = read_metadata(project)
    sample = make_samples(metadata["inputs"], 1, seed=7)[0]
    artifact = json.loads((project / "build/microc-build.json").read_text())["artifact"]
    with HostDevice(artifact, timeout=60) as device:
        assert first_mismatch(device, read_manifest(project), metadata, sample) is None


def test_a_stateful_model_replays_the_samples_before_and_agrees_at_every_layer(tmp_path):
    """The LSTM model's fourth sample layer by layer after the first three (from a RESET, on the device
    and on TFLM): every layer agrees, so the state was the same on both; an edited FULLY_CONNECTED
    weight is named by microc run."""
    from microc.divergence import first_mismatch
    model = shared_model("tflm/trained_lstm_int8")
    project = tmp_path / "lstm"
    deploy(model, "host", project)
    metadata = read_metadata(project)
    samples = make_samples(metadata["inputs"], 4, seed=3)[:4]
    artifact = json.loads((project / "build/microc-build.json").read_text())["artifact"]
    with HostDevice(artifact, timeout=60) as device:
        assert first_mismatch(device, read_manifest(project), metadata, samples[3], samples[:3]) is None
    edit_and_find(model, "host", tmp_path / "edited", 2, "127", "FULLY_CONNECTED")


def test_the_audio_front_end_agrees_at_every_layer_after_invocations_in_sequence(tmp_path):
    """The micro_speech front end's 12th sample layer by layer after the 11 before (from a RESET): every
    layer agrees. Its SignalFilterBankSpectralSubtraction has two outputs and a state: the layer runs
    once for both (run twice, the noise estimate was smoothed twice); SignalEnergy writes bins 5 to 240
    of 257 (as TFLM), the rest, and their CAST, hold whatever was in the arena on either side."""
    from microc.divergence import first_mismatch, written_parts
    project = tmp_path / "audio"
    deploy(shared_model("tflm/audio_preprocessor_int8"), "host", project)
    manifest, metadata = read_manifest(project), read_metadata(project)
    samples = make_samples(metadata["inputs"], 10, seed=0)
    artifact = json.loads((project / "build/microc-build.json").read_text())["artifact"]
    with HostDevice(artifact, timeout=60) as device:
        assert first_mismatch(device, manifest, metadata, samples[11], samples[:11]) is None
    from microc.divergence import _project_graph
    graph = _project_graph(manifest, metadata)
    assert {graph.ops[i].type: part for i, op in enumerate(graph.ops) for t in op.outputs
            if (part := written_parts(graph).get(id(t)))} == {"CUSTOM(SignalEnergy)": slice(5, 241),
                                                               "CAST": slice(5, 241)}


def test_compare_tensor_counts_and_locates_differences():
    from microc.divergence import compare_tensor
    want = np.arange(10, dtype=np.int8)
    got = want.copy()
    assert compare_tensor(got, want) is None
    got[[4, 7]] += np.int8(3)
    assert compare_tensor(got, want) == (2, 3.0, 4)
    w = np.array([100.0, 1.0, -2.0], np.float32)
    assert compare_tensor(w + np.float32(0.005), w) is None  # within 1e-4 of the largest magnitude
    assert compare_tensor(np.array([100.0, 1.0, np.nan], np.float32), w) == (1, pytest.approx(np.nan,
                                                                                              nan_ok=True), 2)


def test_onnx_float_model_with_fc_weights_edited_names_the_fc(tmp_path):
    """A float ONNX CNN (TRANSPOSE, CONV_2D with BN and ReLU folded, MAX_POOL_2D, FULLY_CONNECTED,
    SOFTMAX): outputs are checked against onnxruntime, layers against TFLM on microc's IR."""
    from onnx_builder import OnnxModel
    from test_onnx_import import small_cnn
    m = OnnxModel()
    small_cnn(m)
    edit_and_find(m.save(tmp_path / "cnn.onnx"), "host", tmp_path / "cnn", 3, "40.0f", "FULLY_CONNECTED")


def test_avr_through_simavr_names_the_edited_layer(tmp_path):
    """The same search on an 8-bit AVR: arduino-mega in simavr, hello_world_int8 with layer 1 edited."""
    from test_arduino import _needs_avr_tools
    _needs_avr_tools()
    edit_and_find(shared_model("tflm/hello_world_int8"), "arduino-mega", tmp_path / "mega", 1, "-128",
                  "FULLY_CONNECTED")
