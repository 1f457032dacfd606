"""A project of several models: one firmware holding them all (one shared arena, each model's state its
own), the runner addressing one with SELECT, every output checked against TFLM. Built from the tests'
own small models: a stateful SVDF twice (two instances, two states) and an average pool between them."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from microc import api
from microc.runner.session import open_device
from test_cli_errors import assert_one_line_error, microc
from test_ops_pool import add_pool, models_of
from test_ops_recurrent import add_svdf, run_tflm_sequence, samples_of
from tflite_builder import ModelBuilder, run_tflm

POOL_SHAPE = (1, 8, 8, 4)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    b = ModelBuilder()
    x, _, y = add_svdf(b, "int8", "", 1, 8, 4, 1, 6)
    b.inputs(x)
    b.outputs([y])
    (folder / "svdf.tflite").write_bytes(b.build())
    pool, _ = models_of("int8", [("AVERAGE_POOL_2D", POOL_SHAPE, (2, 2), (2, 2), "VALID", "NONE")], add_pool)
    (folder / "pool.tflite").write_bytes(pool)
    return folder / "svdf.tflite", folder / "pool.tflite"


def test_one_host_firmware_interleaves_models_bit_exact(models, tmp_path):
    """svdf, pool, svdf again (named svdf_2): run in turn on one device, sample by sample, so each run
    overwrites the shared arena; each SVDF's outputs still follow its own TFLM sequence (its state
    survives the other models' runs) and the pool's match TFLM's."""
    svdf, pool = models
    project = tmp_path / "p"
    compiled = api.compile_models([svdf, pool, svdf], "host", project)
    assert [c.name for c in compiled] == ["svdf", "pool", "svdf_2"]
    manifest = json.loads((project / "microc.json").read_text())
    assert manifest["name"] == "svdf_pool_svdf_2"
    arenas = [max(c.metadata["arena_bytes"], 16) for c in compiled]
    assert manifest["shared_arena_bytes"] == max(arenas) == 336  # not the sum (48 + 336 + 48)
    assert "mc_shared_arena[336]" in (project / "model/mc_shared_arena.c").read_text()
    build = api.build(project)

    seq_a, seq_b = samples_of([(1, 8)], "int8", 4, seed=1), samples_of([(1, 8)], "int8", 4, seed=2)
    rng = np.random.default_rng(3)
    pools = [rng.integers(-128, 128, POOL_SHAPE, dtype=np.int8) for _ in seq_a]
    got = {0: [], 1: [], 2: []}
    from microc.boards import load_board
    with open_device(load_board("host"), project, {"artifact": build.artifact}, None, 30.0) as dev:
        for index, x in [(i, s) for k in range(len(seq_a)) for i, s in
                         ((0, seq_a[k][0]), (1, pools[k]), (2, seq_b[k][0]))]:
            assert dev.select(index) == 3
            assert dev.info()["name"] == compiled[index].name
            dev.write_input(0, x.tobytes())
            assert dev.invoke().status == 0
            out = compiled[index].metadata["outputs"][0]
            got[index].append(np.frombuffer(dev.read_output(0, out["bytes"]), np.int8).reshape(out["shape"]))
        dev.exit(0)
    for index, seq in ((0, seq_a), (2, seq_b)):
        want = run_tflm_sequence(svdf.read_bytes(), seq)
        assert all(np.array_equal(g, w[0]) for g, w in zip(got[index], want))
    for g, x in zip(got[1], pools):
        assert np.array_equal(g, run_tflm(pool.read_bytes(), [x])[0])

    report = api.run(project, samples=3, verify=True, model="svdf_2")
    assert report.match and report.comparison.outputs_checked == 5 * 4  # 3 random + the two extremes


def test_qemu_firmware_of_two_models_and_their_pipeline_verifies_each(models, tmp_path):
    """The SVDF and the pool, and their pipeline (--stack-hop 3): the SVDF over 64 windows of 8 values
    3 apart from its initial state, its 64 outputs of 4 stacked into the pool's [1, 8, 8, 4] input."""
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("qemu-system-arm and arm-none-eabi-gcc are needed (scripts/setup.sh installs them)")
    reports = api.deploy_models(list(models), "mps2-an386", tmp_path / "m4", samples=2, verify=True,
                                stack_hop=3)
    assert [r.match for r in reports] == [True, True, True]
    assert [r.comparison.outputs_checked for r in reports] == [4 * 4, 4 * 4 * 4 * 4, 4 * 4 * 4 * 4]
    assert reports[2].metadata["inputs"][0]["shape"] == [1, 63 * 3 + 8]
    assert all(r.instructions and r.instructions > 0 for r in reports)
    assert reports[0].build == reports[2].build  # one firmware
    assert reports[2].instructions > 64 * reports[0].instructions  # 64 SVDF runs, then the pool


def test_project_of_several_models_errors_are_one_line(models, tmp_path):
    svdf, pool = models
    out = tmp_path / "out"
    assert_one_line_error(microc("compile", svdf, pool, "-b", "host", "-o", out, "--selftest", "2"),
                          "--selftest applies to a project of one model")
    assert not out.exists()
    assert microc("compile", svdf, pool, "-b", "host", "-o", out).returncode == 0
    assert_one_line_error(microc("run", out), "holds 2 models (svdf, pool)", "--model")
    assert_one_line_error(microc("run", out, "--model", "7"), "has no model 7")
    assert_one_line_error(microc("report", out), "holds several models", "a project of one")
    assert_one_line_error(microc("compile", pool, svdf, "-b", "host", "-o", tmp_path / "p", "--stack-hop", "3"),
                          "not a whole number of pool's outputs")
    assert_one_line_error(microc("compile", svdf, "-b", "host", "-o", tmp_path / "p", "--stack-hop", "3"),
                          "--stack-hop chains two models, not 1")
    assert not (tmp_path / "p").exists()
