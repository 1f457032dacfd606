"""The readable report of a run, printed with rich."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _fmt(n) -> str:
    return "-" if n is None else f"{n:,}"


MAX_SAMPLE_ROWS = 16


def _print_samples(samples, console: Console) -> None:
    """One row per sample; a long run shows its mismatches (or first rows) and a summary line."""
    shown = [s for s in samples if s.match is False] or samples
    table = Table("sample", "match", "instructions", "cycles (est.)", title="Samples", title_justify="left")
    for s in shown[:MAX_SAMPLE_ROWS]:
        table.add_row(str(s.index), {True: "yes", False: "[red]NO[/]", None: "-"}[s.match],
                      _fmt(s.instructions), _fmt(s.cycles))
    console.print(table)
    if len(samples) > MAX_SAMPLE_ROWS:
        matched = sum(s.match is True for s in samples)
        console.print(f"{len(samples):,} samples, {matched:,} matched"
                      + ("" if samples[0].match is not None else " (not verified)"))


def first_mismatch_text(m: dict) -> str:
    """One line naming the first layer whose output differs from TensorFlow Lite Micro's."""
    return (f"layer {m['layer']} {m['op']} (output {m['tensor']}): {m['differing']:,} values differ, "
            f"largest |difference| {m['max_abs_diff']:g}, first at flat index {m['first_index']:,}")


def print_report(report, console: Console | None = None) -> None:
    console = console or Console()
    j = report.to_json()
    verdict = {True: "[green]MATCH[/]", False: "[red]MISMATCH[/]", None: "not verified"}[report.match]
    quanta = j.get("within_one_quantum")
    console.print(f"[bold]{report.metadata['name']}[/] on [bold]{report.board}[/]: {verdict}"
                  + (f" ({j['outputs_checked']:,} outputs, max |diff| {j['max_abs_diff']:g}"
                     + (f", {quanta:.2%} within one output quantum" if quanta is not None else "") + ")"
                     if report.comparison else ""))
    if report.first_mismatch:
        console.print(f"[red]first divergent layer:[/] {first_mismatch_text(j['first_mismatch'])}")
    elif report.divergence_note:
        console.print(report.divergence_note)
    _print_samples(report.samples, console)
    mem = Table("arena", "lower bound", "weights", "flash", "stack used", "RAM", "instructions/inference",
                "cycles (est.)", title="Cost", title_justify="left")
    mem.add_row(*(_fmt(j[k]) for k in ("arena_bytes", "lower_bound_bytes", "weight_bytes",
                                       "flash_bytes", "stack_bytes", "ram_bytes", "instructions", "cycles")))
    console.print(mem)
    patches = report.metadata.get("planner", {}).get("patches")
    if patches:
        console.print(patches_text(patches))
    console.print(_counter_line(j))
    if any(l["instructions"] is not None for l in j["layers"]):
        layers = Table("#", "operator", "instructions", "cycles (est.)", "share", "schedule", title="Layers",
                       title_justify="left")
        total = sum(l["cycles"] or l["instructions"] or 0 for l in j["layers"]) or 1
        for l in j["layers"]:
            layers.add_row(str(l["index"]), l["type"], _fmt(l["instructions"]), _fmt(l["cycles"]),
                           f"{100 * (l['cycles'] or l['instructions'] or 0) / total:.1f}%",
                           schedule_text(l.get("schedule"), l.get("tuned")))
        console.print(layers)


def patches_text(p: dict) -> str:
    """One line on the layers run patch by patch (metadata.json planner.patches, docs/memory.md)."""
    return (f"patches: layers {p['layers'][0]}-{p['layers'][-1]} run in {p['patches']} patches of "
            f"{p['rows']} output row{'s' if p['rows'] > 1 else ''} (steps {p['steps'][0]}-{p['steps'][1]}); "
            f"operations {p['operations']:,} -> {p['patched_operations']:,} "
            f"(x{p['patched_operations'] / max(p['operations'], 1):.2f}, the recomputed overlap)")


def schedule_text(schedule: dict | None, tuned: str | None) -> str:
    """A layer's schedule as knob=value pairs, and the tuning database it came from (docs/tuning.md)."""
    if not schedule:
        return "-"
    knobs = ",".join(f"{k}={v}" for k, v in schedule.items())
    return f"{knobs} (tuned: {tuned} db)" if tuned else knobs


def _counter_line(j: dict) -> str:
    """Where the counts come from: exact (the QEMU plugin, cycles estimated for the CPU) or the timer."""
    if j["counter"] == "plugin":
        over = j["overhead"]
        return (f"instructions counted exactly by microc's QEMU plugin; cycles estimated for the {j['cpu']} "
                f"(docs/cycles.md)" + (f"; outside the layers: {over['instructions']:,} instructions "
                                       f"(the call, timer readings and marks)" if over else ""))
    why = f" ({j['counter_note']})" if j.get("counter_note") else ""
    return f"instructions from the board's timer{why}; no cycle estimate"
