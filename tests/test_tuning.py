"""microc tune and the tuning database (microc/tuning/): a tuning session on QEMU's Cortex-M4 writes
verified records that the next compile uses (metadata.json and the report say so) and the firmware
stays bit-exact with TFLite Micro; lookup precedence user > shipped > default; --no-tuning; the
learned cost model ranks candidates it has not seen."""
from __future__ import annotations

import pytest
from test_cli_errors import assert_one_line_error, microc
from test_schedules import _conv_model

from microc.boards import load_board
from microc.codegen.schedule import isas_of
from microc.frontends import load_model
from microc.pipeline import compile_model
from microc.tuning import db
from microc.tuning.apply import layer_keys, tuned_schedules
from microc.tuning.costmodel import CostModel

@pytest.fixture
def conv_model(tmp_path):
    path = tmp_path / "conv.tflite"
    path.write_bytes(_conv_model(1)[0])
    return path


def _record(op, sig, schedule, cycles, space=None, cpu="cortex-m4", verified=True, **extra):
    return {"cpu": cpu, "op": op, "signature": sig, "schedule": schedule, "cycles": cycles,
            "instructions": cycles, "verified": verified, "space": space, **extra}


def _conv_layer(path):
    """(step, signature, candidate knobs) of the model's first layer with two candidates."""
    keys = layer_keys(load_model(path), isas_of(load_board("mps2-an386").features))
    step, (op, sig, cands) = next((s, k) for s, k in keys.items() if len(k[2]) > 1)
    return step, op, sig, [c.knobs() for c in cands]


def test_lookup_precedence(conv_model, tmp_path, monkeypatch):
    step, op, sig, (default, other, *_) = _conv_layer(conv_model)
    board = load_board("mps2-an386")
    isas = isas_of(board.features)
    user, shipped = tmp_path / "user.jsonl", tmp_path / "shipped.jsonl"
    monkeypatch.setattr(db, "SHIPPED", shipped)
    graph = load_model(conv_model)
    assert step not in tuned_schedules(graph, board, isas, user)  # neither: the default
    db.append(shipped, [_record(op, sig, default, 200), _record(op, sig, other, 100)])
    got = tuned_schedules(graph, board, isas, user)[step]
    assert (got[0].knobs(), got[1].source) == (other, "shipped")
    db.append(user, [_record(op, sig, default, 90), _record(op, sig, other, 100)])
    got = tuned_schedules(graph, board, isas, user)[step]
    assert (got[0].knobs(), got[1].source) == (default, "user")  # the user's database wins
    # other CPUs, unverified records, and a best whose default was never measured are ignored
    db.append(user, [_record(op, sig, other, 1, cpu="cortex-m7"), _record(op, sig, other, 1, verified=False)])
    assert tuned_schedules(graph, board, isas, user)[step][0].knobs() == default
    lonely = tmp_path / "lonely.jsonl"
    db.append(lonely, [_record(op, sig, other, 1)])
    assert tuned_schedules(graph, board, isas, lonely)[step][1].source == "shipped"
    # ... unless the tuner left the default out by its cost model from this very search space
    space = _conv_layer(conv_model)[3]
    db.append(lonely, [_record(op, sig, other, 1, space=space)])
    assert tuned_schedules(graph, board, isas, lonely)[step][1].source == "user"
    # an explicit --schedule wins over both databases
    assert step not in tuned_schedules(graph, board, isas, user, {"CONV_2D": {"im2col": "true"}})


def test_no_tuning_and_metadata(conv_model, tmp_path, monkeypatch):
    step, op, sig, (default, other, *_) = _conv_layer(conv_model)
    user = tmp_path / "user.jsonl"
    db.append(user, [_record(op, sig, default, 200), _record(op, sig, other, 100)])
    tuned = compile_model(conv_model, "mps2-an386", tmp_path / "a", tuning_db=user).metadata
    assert tuned["layers"][step]["schedule"] == other
    assert tuned["layers"][step]["tuned"]["source"] == "user" and step in tuned["tuning"]["tuned_layers"]
    plain = compile_model(conv_model, "mps2-an386", tmp_path / "b", tuning_db=user, tuning=False).metadata
    assert plain["layers"][step]["schedule"] == default and "tuned" not in plain["layers"][step]
    assert plain["tuning"] == {**tuned["tuning"], "enabled": False, "tuned_layers": []}


def test_bad_database_is_one_line_error(conv_model, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"cpu": "cortex-m4"}\n')
    assert_one_line_error(microc("compile", conv_model, "--board", "mps2-an386", "-o", tmp_path / "p",
                                 "--db", bad), "bad.jsonl:1", "not a tuning record")
    assert not (tmp_path / "p").exists()


def test_cost_model_ranks_unseen_shapes():
    """Records where gathering patches (im2col) pays below 16 values per filter row and costs above:
    the model learns it and ranks both ways right on rows it was not trained on."""
    def cost(row, im2col):
        return row * 1000 * ((0.6 if row < 16 else 1.3) if im2col else 1.0)
    feats = lambda row: {"row": row, "log_macs": 10.0, "out_c": 8}  # noqa: E731
    space = [{"isa": "dsp", "kernel": "generic", "im2col": False},
             {"isa": "dsp", "kernel": "generic", "im2col": True}]
    records = [_record("CONV_2D", str(row), s, cost(row, s["im2col"]), features=feats(row))
               for row in (3, 4, 6, 8, 10, 12, 24, 32, 48, 64, 96, 128) for s in space]
    model = CostModel(records)
    assert model.size == 24
    assert model.rank("CONV_2D", "cortex-m4", feats(5), space) == [1, 0]
    assert model.rank("CONV_2D", "cortex-m4", feats(80), space) == [0, 1]
