"""The terminal side of `microc tune`: the progress bar and the summary table."""
from __future__ import annotations

from pathlib import Path

import click


def run_tune(model: str, board: str, trials: int | None, top_k: int | None, tuning_db: str | None,
             port: str | None, objective: str) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from microc.tuning.tune import tune_model
    err = Console(stderr=True)
    rank = None
    if top_k:
        from microc.tuning.costmodel import ranker
        rank = ranker(Path(tuning_db) if tuning_db else None, objective, top_k, note=err.print)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[best]}"))
    with Progress(*columns, console=err) as bar:
        task = bar.add_task("tuning", total=None, best="")

        def show(state: dict) -> None:
            best = f"best so far: {state['best']:,} {objective}" if state["best"] is not None else ""
            bar.update(task, total=state["total"], completed=state["measured"], best=best,
                       description=f"{state['layers']} layers, image {state['image']}/{state['images']}, "
                                   "candidates measured")
        result = tune_model(model, board, trials, Path(tuning_db) if tuning_db else None, port, objective,
                            rank, show)
    _summary(result, objective)


def _summary(result, objective: str) -> None:
    from rich.console import Console
    from rich.table import Table
    from microc.tuning.db import cost
    table = Table("operator", "layers", "measured", "best schedule", f"best {objective}", "default",
                  "verified", title="Tuned layers")
    for l in result.layers:
        best = l.best(objective)
        default = next((r for r in l.known + l.measured if r["schedule"] == l.default), None)
        knobs = ", ".join(f"{k}={v}" for k, v in best["schedule"].items()) if best else "-"
        table.add_row(l.op, str(len(l.steps)), f"{len(l.measured)} (+{len(l.known)} known)", knobs,
                      _n(best and cost(best, objective)), _n(default and cost(default, objective)),
                      "yes" if best and best.get("verified") else "NO")
    Console().print(table)
    click.echo(f"{len(result.records)} records in {result.images} firmware images appended to "
               f"{result.db_path} ({result.skipped} candidates already there)")


def _n(v) -> str:
    return "-" if v is None else f"{v:,.0f}"
