"""Bad input through the real command line: one line on stderr, a non-zero exit, no traceback, and no
output folder left behind."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tflite_builder import ModelBuilder


def microc(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "microc", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def assert_one_line_error(res: subprocess.CompletedProcess, *fragments: str) -> str:
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("microc: error: "), lines[0]
    assert "Traceback" not in res.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def float_model(op: str = "RELU") -> bytes:
    b = ModelBuilder()
    x = b.tensor("x", (1, 4), "float32")
    y = b.tensor("y", (1, 4), "float32")
    b.op(op, [x], [y])
    b.inputs([x])
    b.outputs([y])
    return b.build()


@pytest.fixture
def good_model(tmp_path):
    path = tmp_path / "good.tflite"
    path.write_bytes(float_model())
    return path


def test_truncated_file(tmp_path, good_model):
    bad = tmp_path / "truncated.tflite"
    bad.write_bytes(good_model.read_bytes()[:100])
    out = tmp_path / "out"
    assert_one_line_error(microc("compile", bad, "--board", "host", "-o", out), "truncated.tflite")
    assert not out.exists()


def test_not_a_model(tmp_path):
    bad = tmp_path / "notes.tflite"
    bad.write_text("these are my notes, not a model\n" * 20)
    out = tmp_path / "out"
    assert_one_line_error(microc("compile", bad, "--board", "host", "-o", out), "notes.tflite")
    assert not out.exists()


def test_unknown_suffix(tmp_path):
    bad = tmp_path / "model.pb"
    bad.write_bytes(b"\0" * 64)
    assert_one_line_error(microc("compile", bad, "--board", "host", "-o", tmp_path / "out"), ".pb")


def test_missing_file(tmp_path):
    assert_one_line_error(microc("compile", tmp_path / "nope.tflite", "--board", "host",
                                 "-o", tmp_path / "out"), "nope.tflite")


def test_unsupported_operator_is_named_with_its_index(tmp_path):
    path = tmp_path / "floor.tflite"
    path.write_bytes(float_model("FLOOR"))
    out = tmp_path / "out"
    line = assert_one_line_error(microc("compile", path, "--board", "host", "-o", out),
                                 "FLOOR", "operator 0", "supported:", "CONV_2D")
    assert "'y'" in line or "'" in line
    assert not out.exists()
    assert not list(tmp_path.glob(".out.*")), "temporary folder left behind"


def test_unknown_board(tmp_path, good_model):
    assert_one_line_error(microc("compile", good_model, "--board", "no-such-board", "-o", tmp_path / "o"),
                          "no-such-board")


def test_not_a_project(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(microc("build", tmp_path / "empty"), "not a microc project")


def test_refuses_to_overwrite_a_foreign_folder(tmp_path, good_model):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    assert_one_line_error(microc("compile", good_model, "--board", "host", "-o", out), "refusing")
    assert (out / "precious.txt").read_text() == "keep me"


def test_input_of_the_wrong_shape(tmp_path, good_model):
    out = tmp_path / "proj"
    res = microc("deploy", good_model, "--board", "host", "-o", out, "--samples", "1")
    assert res.returncode == 0, res.stderr
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 3), np.float32))
    assert_one_line_error(microc("run", out, "--input", bad), "shape")
