"""The Python API (microc/api.py): docs/api.md's examples run as written, and the API returns what the
command line prints."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

import microc
from microc import ROOT, api

DOC = ROOT / "docs" / "api.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)


@pytest.mark.skipif(not (ROOT / "examples").is_dir(), reason="needs the repository checkout")
def test_doc_examples_run(tmp_path, monkeypatch, capsys):
    """Every ```python block, in order, in one namespace, from a folder holding the examples (the doc's
    working directory is the repository root); the printed lines the doc shows after `# ` must appear."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the examples add examples/digits
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) >= 6
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
        printed = capsys.readouterr().out.splitlines()
        for shown in re.findall(r"^# (.*)$", block, re.M):
            assert shown in printed, f"{shown!r} not in {printed}"


def test_api_functions_are_documented():
    for name in ("compile", "build", "run", "verify", "deploy", "bench", "quantize", "flash", "boards"):
        fn = getattr(api, name)
        assert fn.__doc__ and len(fn.__doc__) > 40, name
        assert f"api.{name}(" in DOC.read_text(), name
    assert microc.compile is api.compile and microc.run is api.run and microc.deploy is api.deploy
    assert microc.quantize is api.quantize


def test_the_cli_prints_the_api_result(tmp_path):
    """`microc deploy --json` and api.deploy(...).to_json() agree, field for field."""
    model = ROOT / "examples" / "digits" / "digits_cnn.onnx"
    res = subprocess.run([sys.executable, "-m", "microc", "deploy", str(model), "--board", "host", "-o",
                          str(tmp_path / "cli"), "-n", "2", "--verify", "--json"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    cli = json.loads(res.stdout)
    report = api.deploy(model, "host", tmp_path / "api", samples=2, verify=True)
    mine = report.to_json()
    for run in (cli, mine):  # the host's layer times are measured, so they differ run to run
        for layer in run["layers"]:
            assert layer.pop("ticks") > 0
    assert cli == mine and mine["match"] is True
