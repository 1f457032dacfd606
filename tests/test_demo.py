"""The README's demo, end to end on QEMU: every held-out digit verified bit for bit against TFLite Micro, and
the int8 accuracy on the device within one point of the float model's."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from microc import ROOT


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm is not installed")
def test_demo_on_mps2_an386(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "examples/digits/demo.py"), "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "200"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert "359 samples, 359 matched" in res.stdout
    m = re.search(r"float accuracy \(onnxruntime\): ([\d.]+)%.*int8 accuracy on mps2-an386: ([\d.]+)%", res.stdout)
    assert m, res.stdout[-2000:]
    float_acc, int8_acc = map(float, m.groups())
    assert float_acc >= 95.0
    assert abs(int8_acc - float_acc) <= 1.0
