"""Issue 4: the float MLPerf Tiny models, quantized by microc with random-normal calibration data, run on the
emulated Cortex-M4F bit-exact with TensorFlow Lite Micro running the same quantized model on the host."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from shared_models import shared_model
from microc.build import build_project
from microc.frontends import load_model
from microc.pipeline import compile_model
from microc.runner.session import run_project

MODELS = ["mlperf_tiny/ad01_fp32", "mlperf_tiny/pretrainedResnet", "mlperf_tiny/vww_96_float"]


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm is not installed")
@pytest.mark.parametrize("name", MODELS)
def test_quantized_float_model_is_bit_exact_on_qemu(name, tmp_path):
    model = shared_model(name)
    shape = load_model(model).inputs[0].shape
    calibration = tmp_path / "calibration.npy"
    np.save(calibration, np.random.default_rng(0).standard_normal((16, *shape[1:])).astype(np.float32))
    project = tmp_path / "proj"
    compile_model(model, "mps2-an386", project, quantize="int8", calibration=calibration)
    build_project(project)
    report = run_project(project, samples=3, seed=2, verify=True)
    assert report.match is True
    assert report.comparison.max_abs_diff == 0
    assert report.metadata["inputs"][0]["dtype"] == "int8"
