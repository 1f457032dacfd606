"""End to end on the real models in ../shared/models: the issue's acceptance checks.

- `microc deploy M --board host --verify --samples 10 --json` matches TensorFlow Lite Micro (int8: bit for bit,
  float: within verify.FLOAT_RTOL of the largest reference magnitude) on every sample;
- the arena is no larger than TFLM's planned activation memory ("head") for the same file;
- the generated C builds with -Werror and runs clean under ASan/UBSan, and cross-compiles for a Cortex-M4F.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

import harness
from shared_models import FLOAT, INT8, RECURRENT, TFLM_HEAD_BYTES, shared_model
from microc import RUNTIME_C
from microc.codegen.generate import generate
from microc.frontends import load_model
from microc.reference import reference_sequence
from microc.verify import Comparison, make_samples

ARM_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-mcpu=cortex-m4", "-mthumb",
             "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]


@pytest.mark.parametrize("name", INT8 + FLOAT + RECURRENT)
def test_deploy_on_host_matches_tflm(name, tmp_path):
    model = shared_model(name)
    res = subprocess.run([sys.executable, "-m", "microc", "deploy", str(model), "--board", "host",
                          "-o", str(tmp_path / "proj"), "--verify", "--samples", "10", "--json"],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["match"] is True
    meta = json.loads((tmp_path / "proj" / "metadata.json").read_text())
    assert report["samples"] == len(make_samples(meta["inputs"], 10, 0))  # int8/int16: + minimum, maximum
    if name not in FLOAT:
        assert report["max_abs_diff"] == 0
    assert report["arena_bytes"] == meta["arena_bytes"]


@pytest.mark.parametrize("name", sorted(TFLM_HEAD_BYTES))
def test_arena_no_larger_than_tflm(name):
    meta = generate(load_model(shared_model(name)), "m").metadata
    assert meta["lower_bound_bytes"] <= meta["arena_bytes"] <= TFLM_HEAD_BYTES[name]


@pytest.mark.parametrize("name", INT8 + FLOAT + RECURRENT)
def test_clean_under_sanitizers(name, tmp_path):
    model_path = shared_model(name)
    inputs = generate(load_model(model_path), "m").metadata["inputs"]
    n = 3 if name in RECURRENT else 1  # stateful: a few invocations in sequence
    samples = make_samples(inputs, n, seed=7)[:n]
    got = harness.compile_and_run_sanitized(model_path, samples, tmp_path)
    comparison = Comparison()
    for g, want in zip(got, reference_sequence(model_path, samples, len(got[0]))):
        assert comparison.add(g, want), f"max abs diff {comparison.max_abs_diff}"


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc is not installed")
@pytest.mark.parametrize("name", INT8 + FLOAT + RECURRENT)
def test_cross_compiles_for_cortex_m4(name, tmp_path):
    model = generate(load_model(shared_model(name)), "m")
    for fname, text in model.files.items():
        (tmp_path / fname).write_text(text)
    sources = [*tmp_path.glob("*.c"), *(RUNTIME_C / "src").glob("mc_*.c")]
    for src in sources:
        subprocess.run(["arm-none-eabi-gcc", *ARM_FLAGS, f"-I{tmp_path}", f"-I{RUNTIME_C / 'include'}",
                        "-c", str(src), "-o", str(tmp_path / (src.stem + ".o"))],
                       check=True, capture_output=True, text=True)
