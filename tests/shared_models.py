"""The real models in ../shared/models (made elsewhere; never copied into the project)."""
from __future__ import annotations

from pathlib import Path

import pytest

from microc import ROOT

SHARED = ROOT.parent / "shared" / "models"

INT8 = ["mlperf_tiny/kws_ref_model", "mlperf_tiny/vww_96_int8", "mlperf_tiny/pretrainedResnet_quant",
        "mlperf_tiny/ad01_int8", "tflm/hello_world_int8"]
# Stateful models (variable tensors: SVDF, LSTM; the audio front end's spectral subtraction keeps its noise
# estimate): verified over several invocations in sequence.
RECURRENT = ["tflm/trained_lstm_int8", "tflm/audio_preprocessor_int8", "tflm/keyword_scrambled_8bit",
             "tflm/keyword_scrambled"]
FLOAT = ["mlperf_tiny/pretrainedResnet", "mlperf_tiny/vww_96_float", "mlperf_tiny/ad01_fp32",
         "tflm/hello_world_float"]
# tflm/int16/: single-operator 16x8 models; the tests take three (scripts/verify_shared.sh runs all of
# them on host and QEMU, beyond the CI budget).
INT16 = ["tflm/int16/conv2", "tflm/int16/transpose_conv1", "tflm/int16/leaky_relu1"]
# TensorFlow Lite Micro's planned activation memory ("head" of print_allocations()) for the same files.
TFLM_HEAD_BYTES = {"mlperf_tiny/kws_ref_model": 16000, "mlperf_tiny/vww_96_int8": 73728,
                   "mlperf_tiny/pretrainedResnet_quant": 49152, "mlperf_tiny/ad01_int8": 768}


def shared_model(name: str) -> Path:
    path = SHARED / f"{name}.tflite"
    if not path.exists():
        pytest.skip(f"shared model {name} not found: ../shared/models is not beside this checkout")
    return path


def built_for_qemu(name: str, board: str, folder: Path) -> tuple[Path, str]:
    """A shared model compiled and built for a QEMU board in `folder`: (project, firmware ELF); skips
    when the cross-compiler or QEMU is missing."""
    import shutil

    from microc.build import build_project
    from microc.pipeline import compile_model
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    compile_model(shared_model(name), board, folder)
    return folder, build_project(folder).artifact
