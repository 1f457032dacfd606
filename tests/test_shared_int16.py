"""The 16x8 models of ../shared/models/tflm/int16 (issue 12): `microc deploy M --board host --verify
--samples 10` bit for bit with TFLM (random int16 inputs plus all minimum and all maximum; the
TRANSPOSE_CONV models' output-shape input fed its one valid value) for three of them (the other
operators' arithmetic is in test_ops_int16.py), one on the emulated Cortex-M4. `scripts/verify_shared.sh -f tflm/int16`
runs every model of the folder on both boards."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from shared_models import INT16, built_for_qemu, shared_model
from microc.runner.session import run_project


@pytest.mark.parametrize("name", INT16, ids=[n.split("/")[-1] for n in INT16])
def test_int16_model_on_host_matches_tflm(name, tmp_path):
    res = subprocess.run([sys.executable, "-m", "microc", "deploy", str(shared_model(name)), "--board", "host",
                          "-o", str(tmp_path / "proj"), "--verify", "--samples", "10", "--json"],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["match"] is True and report["max_abs_diff"] == 0
    assert report["samples"] == 12  # 10 random, all minimum, all maximum


def test_transpose_conv_int16_on_qemu_m4(tmp_path):
    project, _ = built_for_qemu("tflm/int16/transpose_conv1", "mps2-an386", tmp_path / "proj")
    meta = json.loads((project / "metadata.json").read_text())
    assert meta["inputs"][0]["value"] == [1, 3, 22, 32]  # the output shape, fed as its only valid value
    result = run_project(project, samples=2, seed=3, verify=True)
    assert result.match is True
    assert result.comparison.max_abs_diff == 0
    assert len(result.samples) == 4
