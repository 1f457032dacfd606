"""`microc tune` end to end on QEMU's Cortex-M4: a tuning session on a two-layer model writes verified
records into a fresh database, and the following `microc deploy --db` runs the tuned schedules and says
so in its --json report and metadata.json (which the printed and HTML reports read)."""
from __future__ import annotations

import json
import shutil

import pytest
from test_cli_errors import microc
from test_ops_conv import FCS, _fc_model

from microc.frontends import load_model
from microc.tuning import db
from microc.tuning.apply import layer_keys

needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                reason="qemu-system-arm and arm-none-eabi-gcc are needed for the Cortex-M4 run")


@needs_qemu
def test_tune_then_deploy_uses_the_records(tmp_path):
    model = tmp_path / "fc.tflite"
    model.write_bytes(_fc_model((1, 24), (0.05, -3), "int8", seed=31, fcs=FCS[4:6]))  # 5 and 8 rows
    user_db = tmp_path / "tuning.jsonl"
    res = microc("tune", model, "--board", "mps2-an386", "--trials", "2", "--db", user_db)
    assert res.returncode == 0, res.stderr[-2000:]
    records = db.load(user_db)
    # two distinct layers x (int8, int16 weights), each measured on the board and verified
    assert sorted((r["op"], r["schedule"]["weights"]) for r in records) == \
        [("FULLY_CONNECTED", w) for w in ("int16", "int16", "int8", "int8")]
    assert all(r["verified"] and r["instructions"] > 0 and r["cycles"] > 0 for r in records)
    assert "4 records in 2 firmware images appended to" in res.stdout
    res = microc("deploy", model, "--board", "mps2-an386", "--db", user_db, "-n", "1", "--verify", "--json",
                 "-o", tmp_path / "p")
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout)
    assert report["match"] and report["max_abs_diff"] == 0
    metadata = json.loads((tmp_path / "p" / "metadata.json").read_text())
    keys = layer_keys(load_model(model), ("dsp",))  # step -> (operator, signature, candidates)
    assert len(report["layers"]) == len(keys) == 2
    for step, layer in enumerate(report["layers"]):
        best = min((r for r in records if r["signature"] == keys[step][1]), key=lambda r: r["cycles"])
        assert layer["tuned"] == "user" and layer["schedule"] == best["schedule"]
        assert metadata["layers"][step]["tuned"] == {"source": "user", "instructions": best["instructions"],
                                                     "cycles": best["cycles"], "board": "mps2-an386"}
    assert metadata["tuning"]["tuned_layers"] == [0, 1]
