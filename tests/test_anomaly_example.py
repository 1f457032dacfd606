"""examples/anomaly/detect.py end to end on the emulated Cortex-M4: every held-out label equal to
scikit-learn's, outputs verified against onnxruntime, the accuracy the README states."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("skl2onnx")
SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "anomaly" / "detect.py"


def test_anomaly_example_on_mps2_an386(tmp_path):
    res = subprocess.run([sys.executable, str(SCRIPT), "--json", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    f = json.loads(res.stdout)
    assert f["verified_against_onnxruntime"] is True
    assert f["labels_equal_to_sklearn"] == f["held_out"] == 171 and f["anomalies"] == 64
    assert round(f["device_accuracy"], 3) == round(f["sklearn_accuracy"], 3) == 0.883
    assert f["instructions_per_inference"] > 0
