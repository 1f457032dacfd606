"""`microc report`: one self-contained HTML page about a project (pictures inline as base64 PNG, so it
opens offline), and the same data as JSON: the model, each layer's share of the time, the arena's
buffers over their lifetimes, flash and RAM by part, and the last run's verification.

The run's figures come from the project's last_run.json, which `microc run` and `microc deploy` save
(their --json result), so the report never reruns anything. Recompiling replaces the project folder, so a
saved run always belongs to the firmware the project holds (a hand edit rebuilt since is the user's)."""
from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

from microc.errors import MicrocError

LAST_RUN = "last_run.json"
REPORT_HTML = "report.html"
CODE_SECTIONS = (".text", ".init", ".fini", ".plt", ".plt.got", ".plt.sec", ".ARM.exidx", ".vectors",
                 ".isr_vector")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)  # never a half-written file
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise MicrocError(f"cannot write {path}: {e.strerror}") from None


def save_run(project: str | Path, run: dict) -> None:
    """Keep a run's --json result in the project for `microc report`."""
    _write_atomic(Path(project) / LAST_RUN, json.dumps(run, indent=1) + "\n")


def record_run(project: str | Path, run: dict, html: bool = False) -> Path | None:
    """Save a run in the project; with `html` also write its report.html (returns its path)."""
    save_run(project, run)
    return write_report(project)[0] if html else None


def load_run(project: str | Path) -> dict | None:
    path = Path(project) / LAST_RUN
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, json.JSONDecodeError) as e:
        raise MicrocError(f"cannot read {path}: {e}") from None


# ---- the data ----

def report_data(project: str | Path) -> dict:
    from microc.boards import load_board
    from microc.pipeline import read_manifest, read_metadata
    project = Path(project)
    manifest, metadata = read_manifest(project), read_metadata(project)
    board = load_board(manifest["board"])
    run = load_run(project)
    if run is not None and len(run.get("layers", [])) not in (0, len(metadata["layers"])):
        run = None  # from another compile of a project folder reused by hand
    notes = [] if run else ["no run was recorded: run 'microc run PROJECT' (or deploy) to add the "
                            "per-layer cost and the verification"]
    layers, metric, unit = _layers(metadata, run, board)
    memory = _memory(project, board, metadata, notes)
    arena = _arena(metadata, notes)
    return {"project": str(project), "summary": _summary(manifest, metadata), "run_recorded": run is not None,
            "layer_metric": metric, "layer_unit": unit, "layers": layers, "arena": arena, "memory": memory,
            "verification": _verification(run), "notes": notes}


def _summary(manifest: dict, metadata: dict) -> dict:
    ops: dict[str, int] = {}
    for l in metadata["layers"]:
        ops[l["type"]] = ops.get(l["type"], 0) + 1
    return {"name": metadata["name"], "model": manifest["model"], "board": manifest["board"],
            "model_hash": metadata["model_hash"], "layers": len(metadata["layers"]), "operators": ops,
            "inputs": metadata["inputs"], "outputs": metadata["outputs"],
            "arena_bytes": metadata["arena_bytes"], "lower_bound_bytes": metadata["lower_bound_bytes"],
            "weight_bytes": metadata["weight_bytes"], "quantization": manifest.get("quantization")}


def _layers(metadata: dict, run: dict | None, board) -> tuple[list[dict], str | None, str | None]:
    """Each layer with its run figures and its share of the best measure the run has: estimated cycles,
    else instructions, else the board's timer ticks (the host: nanoseconds)."""
    measured = run["layers"] if run and run.get("layers") else [{}] * len(metadata["layers"])
    rows = [{"index": l["index"], "type": l["type"], "name": l["name"], "output": l["output"],
             "weight_bytes": l["weight_bytes"], "instructions": m.get("instructions"),
             "cycles": m.get("cycles"), "ticks": m.get("ticks"), "schedule": l.get("schedule"),
             "tuned": (l.get("tuned") or {}).get("source"), "patch": l.get("patch")} for l, m in zip(metadata["layers"], measured)]
    metric = next((k for k in ("cycles", "instructions", "ticks") if any(r[k] for r in rows)), None)
    unit = {"cycles": "estimated cycles", "instructions": "instructions",
            "ticks": f"timer ticks ({board.timer.get('unit', board.timer.get('kind', 'board timer'))})",
            None: None}[metric]
    total = sum(r[metric] or 0 for r in rows) if metric else 0
    for r in rows:
        r["share"] = (r[metric] or 0) / total if total else None
    return rows, metric, unit


def _arena(metadata: dict, notes: list[str]) -> dict | None:
    """The planner's buffers (metadata.json) and the bytes alive at each step, counted as the planner
    counts its lower bound: an in-place output and the input it overwrites once, as the larger."""
    buffers = metadata.get("planner", {}).get("buffers")
    if buffers is None:
        notes.append("the project predates the arena picture: compile it again")
        return None
    shares = {b["name"]: b.get("shares") for b in buffers}

    def root(name: str) -> str:
        return root(shares[name]) if shares.get(name) else name

    def alive(step: int) -> int:
        per_root: dict[str, int] = {}
        for b in buffers:
            if b["first"] <= step <= b["last"]:
                per_root[root(b["name"])] = max(per_root.get(root(b["name"]), 0), b["bytes"])
        return sum(per_root.values())

    live = [alive(s) for s in range(len(metadata["layers"]) + 1)]
    peak = max(range(len(live)), key=live.__getitem__)
    return {"arena_bytes": metadata["arena_bytes"], "lower_bound_bytes": metadata["lower_bound_bytes"],
            "peak_step": peak, "peak_bytes": live[peak], "live_bytes": live, "buffers": buffers,
            "patches": metadata["planner"].get("patches")}


def _memory(project: Path, board, metadata: dict, notes: list[str]) -> dict | None:
    """Flash as weights, code and the rest; RAM as arena, state (if any), stack and the rest (section
    sizes of the built ELF; weights are the model's constant arrays, the arena and the state its static
    buffers)."""
    from microc.build import BUILD_RESULT, section_sizes
    result = project / BUILD_RESULT
    if not result.is_file() or board.family == "zephyr":
        notes.append("flash and RAM by part need a project built with 'microc build' (not Zephyr's west)")
        return None
    build = json.loads(result.read_text())
    sections = section_sizes(Path(build["artifact"]), board)
    flash, ram, weights = build["flash_bytes"], build["ram_bytes"], metadata["weight_bytes"]
    code = sum(sections.get(s, 0) for s in CODE_SECTIONS)
    if flash - code < weights:  # weights kept inside .text (AVR's program memory)
        code -= weights
    arena = max(metadata["arena_bytes"], 16)  # the generated array's size
    state = metadata.get("state_bytes", 0)  # a stateful model's variables (docs/recurrent.md)
    stack = sections.get(".stack", 0)
    if not stack:
        notes.append(f"{board.name}: the stack is not part of the image, so RAM shows none")
    return {"flash": {"total": flash, "parts": {"weights": weights, "code": code,
                                                "rest": flash - weights - code}},
            "ram": {"total": ram, "parts": {"arena": arena, **({"state": state} if state else {}),
                                            "stack": stack, "rest": ram - arena - state - stack}}}


def _verification(run: dict | None) -> dict | None:
    if run is None:
        return None
    keys = ("match", "samples", "outputs_checked", "max_abs_diff", "within_one_quantum", "instructions",
            "cycles", "counter", "counter_note", "cpu", "overhead", "first_mismatch", "first_mismatch_note",
            "flash_bytes", "ram_bytes")
    return {k: run.get(k) for k in keys}


# ---- the page ----

def render_html(data: dict) -> str:
    from microc import charts
    from microc.report import patches_text
    s, v = data["summary"], data["verification"]
    parts = [f"<h1>microc report: {_e(s['name'])} on {_e(s['board'])}</h1>",
             *(f"<p class=note>{_e(n)}</p>" for n in data["notes"]),
             "<h2>Model</h2>", _table(["", ""], _summary_rows(s)),
             "<h2>Verification</h2>", _verification_html(v)]
    if data["layer_metric"]:
        parts += [f"<h2>Layers: {_e(data['layer_unit'])}</h2>",
                  _img(charts.layer_bars(data["layers"], data["layer_metric"], data["layer_unit"]))]
    else:
        parts += ["<h2>Layers</h2>"]
    parts.append(_layers_table(data["layers"]))
    if data["arena"]:
        a = data["arena"]
        parts += ["<h2>Arena</h2>",
                  f"<p>planned {_n(a['arena_bytes'])} B; layer-wise lower bound {_n(a['lower_bound_bytes'])} B; "
                  f"peak at step {a['peak_step']} with {_n(a['peak_bytes'])} B alive</p>",
                  *([f"<p>{_e(patches_text(a['patches']))}</p>"] if a.get("patches") else []),
                  _img(charts.arena_map(a, len(data["layers"]))),
                  _table(["buffer", "offset", "bytes", "first step", "last step"],
                         [[b["name"], _n(b["offset"]), _n(b["bytes"]), b["first"], b["last"]]
                          for b in a["buffers"]])]
    if data["memory"]:
        m = data["memory"]
        parts += ["<h2>Flash and RAM</h2>", _img(charts.memory_bars(m)),
                  _table(["", "total", *m["flash"]["parts"], *m["ram"]["parts"]],
                         [["flash", _n(m["flash"]["total"]), *map(_n, m["flash"]["parts"].values()),
                           *[""] * len(m["ram"]["parts"])],
                          ["RAM", _n(m["ram"]["total"]), *[""] * len(m["flash"]["parts"]),
                           *map(_n, m["ram"]["parts"].values())]])]
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=utf-8><title>microc report: {_e(s['name'])}</title>"
            f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>\n")


_CSS = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;"
        "text-align:right}td:first-child,th:first-child{text-align:left}.note{color:#a60}"
        ".bad{color:#b00;font-weight:bold}.good{color:#070;font-weight:bold}img{max-width:100%}")


def _e(text) -> str:
    return html.escape(str(text))


def _n(v) -> str:
    return "-" if v is None else f"{v:,}" if isinstance(v, int) else f"{v:g}"


def _img(png: bytes) -> str:
    return f'<p><img alt="chart" src="data:image/png;base64,{base64.b64encode(png).decode()}"></p>'


def _table(head: list, rows: list[list]) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{trs}</table>"


def _summary_rows(s: dict) -> list[list]:
    tensors = lambda ts: "; ".join(f"{t['name']} {t['shape']} {t['dtype']}" for t in ts)  # noqa: E731
    rows = [["model file", s["model"]], ["model hash", s["model_hash"][:16]], ["board", s["board"]],
            ["layers", s["layers"]], ["operators", ", ".join(f"{k} ×{n}" for k, n in s["operators"].items())],
            ["inputs", tensors(s["inputs"])], ["outputs", tensors(s["outputs"])],
            ["arena bytes", _n(s["arena_bytes"])], ["lower bound bytes", _n(s["lower_bound_bytes"])],
            ["weight bytes", _n(s["weight_bytes"])]]
    if s["quantization"]:
        rows.append(["quantized by microc", json.dumps(s["quantization"])])
    return rows


def _verification_html(v: dict | None) -> str:
    if v is None:
        return "<p>no run recorded</p>"
    verdict = {True: "<span class=good>MATCH</span>", False: "<span class=bad>MISMATCH</span>",
               None: "not verified"}[v["match"]]
    rows = [[k.replace("_", " "), _n(v[k])] for k in ("samples", "outputs_checked", "max_abs_diff",
                                                      "instructions", "cycles") if v.get(k) is not None]
    if v.get("counter"):  # the QEMU plugin (exact), or the board's timer, and why
        rows.append(["counted by", v["counter"]])
    if v.get("counter_note"):
        rows.append(["counter note", v["counter_note"]])
    if v.get("cycles") is not None and v.get("cpu"):
        rows.append(["cycle model", v["cpu"]])
    if v.get("overhead"):  # the inference's count less its layers' sum
        rows += [[f"outside the layers: {k}", _n(n)] for k, n in v["overhead"].items()]
    out = f"<p>{verdict} against TensorFlow Lite Micro</p>" + _table(["", ""], rows)
    if v.get("first_mismatch"):
        from microc.report import first_mismatch_text
        out += f"<p class=bad>first divergent layer: {_e(first_mismatch_text(v['first_mismatch']))}</p>"
    elif v.get("first_mismatch_note"):
        out += f"<p class=note>{_e(v['first_mismatch_note'])}</p>"
    return out


def _layers_table(layers: list[dict]) -> str:
    from microc.report import schedule_text
    return _table(["#", "operator", "output", "weight bytes", "instructions", "estimated cycles", "ticks",
                   "share", "schedule"],
                  [[l["index"], _operator(l), "x".join(map(str, l["output"])), _n(l["weight_bytes"]),
                    _n(l["instructions"]), _n(l["cycles"]), _n(l["ticks"]),
                    "-" if l["share"] is None else f"{100 * l['share']:.1f}%",
                    schedule_text(l.get("schedule"), l.get("tuned"))] for l in layers])


def _operator(layer: dict) -> str:
    """The operator, and for a patch (docs/memory.md) which one, of which model layer."""
    p = layer.get("patch")
    return layer["type"] if not p else f"{layer['type']} (patch {p['patch'] + 1}/{p['patches']} of layer {p['op']})"


def write_report(project: str | Path, out: str | Path | None = None) -> tuple[Path, dict]:
    """Write the HTML (default: PROJECT/report.html); returns its path and the data it shows."""
    data = report_data(project)
    path = Path(out) if out else Path(project) / REPORT_HTML
    _write_atomic(path, render_html(data))
    return path, data
