"""`microc tune`: measure each distinct layer's candidate schedules on the board and record them.

The candidates are measured in few firmware images: image r gives every distinct layer its r-th
candidate still to measure (layers with fewer keep their default), so a tuning session starts QEMU as
many times as the longest candidate list, not once per candidate. Each image runs verified against
TensorFlow Lite Micro and its per-layer counts (the QEMU plugin's exact instructions and the cycle
estimate, microc/runner/counter.py) are each layer's measurement: a layer's count does not depend on
the other layers' schedules. A candidate is `verified` when its whole image was bit-exact."""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import microc
from microc.tuning import db
from microc.tuning.apply import layer_keys
from microc.tuning.signature import features


@dataclass
class Layer:
    """A distinct layer: its steps in the model, its candidates (ranked) and what was measured."""
    op: str
    signature: str
    steps: list[int]
    candidates: list  # Schedules, in the order they are measured
    space: list[dict]  # every candidate's knobs, the default first (kept in each record)
    known: list[dict] = field(default_factory=list)  # records of this layer already in the database
    measured: list[dict] = field(default_factory=list)  # records written by this session

    @property
    def default(self) -> dict:
        return self.space[0]

    def best(self, objective: str) -> dict | None:
        return min(self.known + self.measured, key=lambda r: db.cost(r, objective), default=None)


@dataclass
class TuneResult:
    layers: list[Layer]
    images: int
    records: list[dict]
    db_path: Path
    skipped: int  # candidates already in the database


def distinct_layers(graph, isas, cpu: str, records: list[dict], trials: int | None,
                    rank: Callable | None = None) -> list[Layer]:
    """The model's distinct layers with the candidates still to measure: ranked by `rank` (the cost
    model; default order otherwise), at most `trials` per layer, less those the database has
    (verified, same CPU and microc version)."""
    layers: dict[tuple[str, str], Layer] = {}
    ordered = None
    for step, (op, sig, cands) in layer_keys(graph, isas).items():
        if (op, sig) in layers:
            layers[(op, sig)].steps.append(step)
            continue
        space = [c.knobs() for c in cands]
        if rank is not None:
            if ordered is None:
                from microc.passes.order import memory_order
                ordered = memory_order(graph)
            cands = rank(ordered.ops[step], cands, cpu)
        cands = cands[:trials] if trials else cands
        known = [r for r in records if r.get("verified") and r["cpu"] == cpu and r["op"] == op
                 and r["signature"] == sig and r.get("microc") == microc.__version__]
        done = [r["schedule"] for r in known]
        layers[(op, sig)] = Layer(op, sig, [step], [c for c in cands if c.knobs() not in done], space,
                                  [r for r in known if r["schedule"] in [c.knobs() for c in cands]])
    return list(layers.values())


def tune_model(model: str | Path, board_name: str, trials: int | None = None, db_path: Path | None = None,
               port: str | None = None, objective: str = "cycles", rank: Callable | None = None,
               progress: Callable[[dict], None] = lambda state: None, workdir: Path | None = None) -> TuneResult:
    from microc.boards import load_board
    from microc.codegen.schedule import isas_of
    from microc.cycles import cpu_of
    from microc.frontends import load_model
    from microc.passes.order import memory_order
    board = load_board(board_name)
    db_path = Path(db_path) if db_path else db.default_path()
    graph = load_model(Path(model))
    isas = isas_of(board.features)
    cpu = cpu_of(board) or board.name
    layers = distinct_layers(graph, isas, cpu, db.load(db_path), trials, rank)
    ordered = memory_order(graph)  # codegen's order: the steps of metadata.json and the run's layers
    skipped = sum(len(l.known) for l in layers)
    rounds = max((len(l.candidates) for l in layers), default=0)
    total = sum(len(l.candidates) for l in layers)
    written = []
    state = {"layers": len(layers), "images": rounds, "image": 0, "measured": 0, "total": total,
             "best": _best_total(layers, objective)}
    progress(state)
    with tempfile.TemporaryDirectory(prefix="microc-tune-") as tmp:
        project = Path(workdir or tmp) / f"{Path(model).stem}-{board_name}-tune"
        for r in range(rounds):
            batch = [l for l in layers if r < len(l.candidates)]
            schedules = {s: l.candidates[r] for l in batch for s in l.steps}
            records = _measure(model, board, project, schedules, batch, cpu, port, r, ordered)
            db.append(db_path, records)  # kept as they come: an interrupted session loses one image
            written += records
            state.update(image=r + 1, measured=state["measured"] + len(batch), best=_best_total(layers, objective))
            progress(state)
    return TuneResult(layers, rounds, written, db_path, skipped)


def _measure(model, board, project: Path, schedules: dict, batch: list[Layer], cpu: str, port, r: int,
             graph) -> list[dict]:
    """Build one image with these schedules, run it verified, and return one record per layer of
    `batch` (its first step's count)."""
    from microc.build import build_project
    from microc.pipeline import compile_model
    from microc.runner.session import run_project
    res = compile_model(model, board.name, project, schedules=schedules, tuning=False)
    build = build_project(project)
    if port:
        from microc.flash import flash_project
        flash_project(project, port=port)
    report = run_project(project, samples=1, seed=0, verify=True, port=port)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    code = build.flash_bytes - res.metadata["weight_bytes"] if build.flash_bytes is not None else None
    records = []
    for layer in batch:
        step = layer.steps[0]
        cost = report.layers[step] if step < len(report.layers) else None
        rec = {"microc": microc.__version__, "board": board.name, "cpu": cpu, "op": layer.op,
               "signature": layer.signature, "features": features(graph.ops[step]),
               "schedule": layer.candidates[r].knobs(), "instructions": cost and cost.instructions,
               "cycles": cost and cost.cycles, "code_bytes": code, "verified": bool(report.match),
               "model": Path(model).stem, "layers": len(layer.steps), "space": layer.space, "time": stamp}
        layer.measured.append(rec)
        records.append(rec)
    return records


def _best_total(layers: list[Layer], objective: str) -> int | None:
    """The model's cost with each distinct layer at its best schedule so far (None until all known)."""
    if objective == "code":
        return None
    best = [l.best(objective) for l in layers]
    if any(b is None for b in best):
        return None
    return int(sum(db.cost(b, objective) * len(l.steps) for b, l in zip(best, layers)))
