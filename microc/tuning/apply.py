"""The tuned schedules of a graph's layers on a board, for the compiler (microc/pipeline.py)."""
from __future__ import annotations

from pathlib import Path

from microc.ir import Graph
from microc.tuning import db
from microc.tuning.signature import signature


def layer_keys(graph: Graph, isas: tuple[str, ...]) -> dict[int, tuple[str, str, list]]:
    """step (in codegen's order) -> (operator, signature, candidate Schedules, default first), for
    every scheduled layer."""
    from microc.codegen.generate import schedule_choices
    from microc.passes.order import memory_order
    ordered = memory_order(graph)
    return {step: (ordered.ops[step].type, signature(ordered.ops[step]), cands)
            for step, cands in schedule_choices(ordered, isas).items()}


def tuned_schedules(graph: Graph, board, isas: tuple[str, ...], user_db: Path | None,
                    explicit: dict | None = None) -> dict[int, tuple]:
    """step -> (Schedule, db.Tuned) for the layers the databases know, leaving out the layers an
    explicit --schedule names (by step or operator type: the user's request wins)."""
    from microc.cycles import cpu_of
    explicit = explicit or {}
    cpu = cpu_of(board) or board.name
    keys = {s: k for s, k in layer_keys(graph, isas).items()
            if s not in explicit and str(s) not in explicit and k[0] not in explicit}
    found = db.lookup({s: (op, sig, [c.knobs() for c in cands]) for s, (op, sig, cands) in keys.items()},
                      cpu, user_db or db.default_path())
    out = {}
    for step, tuned in found.items():
        cands = keys[step][2]
        out[step] = (next(c for c in cands if c.knobs() == tuned.schedule), tuned)
    return out


def annotate(metadata: dict, tuned: dict[int, tuple], user_db: Path | None, enabled: bool) -> None:
    """Say in metadata.json which layers run a tuned schedule and from which database."""
    for step, (_, t) in tuned.items():
        metadata["layers"][step]["tuned"] = {"source": t.source, "instructions": t.record.get("instructions"),
                                             "cycles": t.record.get("cycles"), "board": t.record.get("board")}
    metadata["tuning"] = {"enabled": enabled, "user_db": str(user_db or db.default_path()),
                          "shipped_db": str(db.SHIPPED), "tuned_layers": sorted(tuned)}
