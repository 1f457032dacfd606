"""The wheel carries boards/, templates/ and runtime_c/: built from this checkout, installed into a fresh
virtualenv outside it, and run from a temporary folder, microc verifies a model on the host and on QEMU."""
from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from shared_models import shared_model
from microc import ROOT


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A virtualenv holding only the wheel; the dependencies come from the test's own environment
    through a .pth line (that folder's own .pth files, the editable microc among them, are not read)."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next((tmp / "dist").glob("microc-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for data in ("microc/boards_data/host.toml", "microc/templates_data/cortex-m/Makefile.j2",
                 "microc/runtime_c_data/include/mc_common.h", "microc/runtime_c_data/src/mc_conv2d.c",
                 "microc/runner/plugin/mc_count.c"):
        assert data in names
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True)
    return venv


@pytest.mark.parametrize("board", ["host", "mps2-an386"])
def test_wheel_verifies_a_model_from_outside_the_checkout(installed, board, tmp_path):
    model = shared_model("tflm/hello_world_int8")
    where = subprocess.run([installed / "bin/python", "-c", "import microc; print(microc.__file__)"],
                           cwd=tmp_path, check=True, capture_output=True, text=True).stdout
    assert where.startswith(str(installed))
    res = subprocess.run([installed / "bin/microc", "deploy", str(model), "--board", board, "-o", "out",
                          "--verify", "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["match"] is True and report["max_abs_diff"] == 0
    assert (tmp_path / "out" / "runtime" / "include" / "mc_common.h").is_file()
    # the QEMU plugin is built from the wheel's copy of its source
    assert report["counter"] == ("timer" if board == "host" else "plugin"), report["counter_note"]
