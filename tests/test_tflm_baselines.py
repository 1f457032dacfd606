"""microc/tflm_baselines.py: the file scripts/bench_tflm.py writes and `microc bench` reads for its TFLM
columns (no TFLM needed: rows made here)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from microc import tflm_baselines as tb
from microc.bench import BenchRow, markdown_table, rows_json
from microc.errors import MicrocError


def run(model: str, board: str, ref: int, cmsis: int, tflm="90b983c2", microc="abc1234") -> tb.Baselines:
    return tb.Baselines([tb.Row(model, board, "microc", 90, 120, 768, True),
                         tb.Row(model, board, "TFLM reference", ref, ref * 3 // 2, 2260, True),
                         tb.Row(model, board, "TFLM CMSIS-NN", cmsis, cmsis * 5 // 4, 2580, True)],
                        tflm, "4ab83cc3", microc, "2026-12-03T15:00Z")


def test_round_trip_and_merge(tmp_path):
    path = tmp_path / "b.json"
    assert tb.read(path) is None
    tb.write(path, run("ad01_int8", "mps2-an386", 1000, 300))
    again = tb.write(path, run("kws_ref_model", "mps2-an386", 5000, 800, microc="def5678"))
    assert again == tb.read(path)
    assert [(r.model, r.tool) for r in again.rows][::3] == [("ad01_int8", "microc"), ("kws_ref_model", "microc")]
    assert again.microc_commit == "def5678, abc1234"  # the kept AD row was measured on the other commit
    assert again.get("ad01_int8", "mps2-an386", "TFLM CMSIS-NN").instructions == 300
    # Both re-measured on one commit: that commit alone.
    both = tb.write(path, tb.Baselines(again.rows, "90b983c2", "4ab83cc3", "0000000", "2026-12-04T10:00Z"))
    assert both.microc_commit == "0000000" and len(both.rows) == 6
    # Another TFLM commit starts afresh: figures of two TFLM versions never share a table.
    other = tb.write(path, run("kws_ref_model", "mps2-an386", 5000, 800, tflm="1234abcd"))
    assert {r.model for r in other.rows} == {"kws_ref_model"} and other.microc_commit == "abc1234"


@pytest.mark.parametrize("text", ["{", '{"format": 7}', '{"format": 1, "rows": [{"model": 1}]}'])
def test_damaged_file_is_an_error(tmp_path, text):
    path = tmp_path / "b.json"
    path.write_text(text)
    with pytest.raises(MicrocError, match=rf"^{path}: not a TFLM baselines file of scripts/bench_tflm.py \("):
        tb.read(path)


def bench_row(model: str, board: str) -> BenchRow:
    return BenchRow(model, board, "balanced", True, 90, 120, 768, 768, 1000, 8000, 3000, 337)


def test_bench_table_columns(tmp_path):
    rows = [bench_row("ad01_int8", "mps2-an386"), bench_row("ad01_int8", "mps3-an547")]
    empty = markdown_table(rows, tmp_path / "none.json").splitlines()
    assert empty[2].endswith("| 3,000 | - | - | - | - |")
    assert empty[-1] == (f"TFLM columns empty: TFLM not measured (no {tmp_path / 'none.json'}; "
                         "scripts/bench_tflm.py measures it from your own TFLM checkouts, docs/benchmark.md).")
    path = tmp_path / "b.json"
    tb.write(path, run("ad01_int8", "mps2-an386", 1000, 300))
    lines = markdown_table(rows, path).splitlines()
    assert lines[0].endswith("| TFLM ref. instr. | TFLM CMSIS-NN instr. | TFLM CMSIS-NN cycles (est.) "
                             "| TFLM CMSIS-NN arena B |")
    assert lines[2].endswith("| 3,000 | 1,000 | 300 | 375 | 2,580 |")
    assert lines[3].endswith("| 3,000 | - | - | - | - |")  # not measured on the M55: not filled in
    assert lines[-1] == ("TFLM columns measured by scripts/bench_tflm.py on 2026-12-03 (tflite-micro 90b983c2, "
                         f"CMSIS-NN 4ab83cc3; microc abc1234 beside them): {path}.")
    js = rows_json(rows, path)
    assert js[0]["tflm"]["TFLM CMSIS-NN"]["instructions"] == 300 and js[1]["tflm"] == {}


def test_bench_refuses_a_damaged_file_first(tmp_path):
    path = tmp_path / "b.json"
    path.write_text("{")
    done = subprocess.run([sys.executable, "-m", "microc", "bench", __file__, "--tflm", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert "not a TFLM baselines file" in done.stderr and not (tmp_path / "microc-out").exists()
