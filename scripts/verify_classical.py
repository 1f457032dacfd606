#!/usr/bin/env python3
"""Every benchmark model of scripts/bench_classical.py (and the native XGBoost JSON / LightGBM text of
two of them) through the command line on each board, verified: `microc deploy --verify --json` (random
inputs), and `microc compile`, `microc build`, `microc run --input held-out.npy --verify --json` one
after the other. Prints one markdown row per model and board: each route's match, instructions, flash
and RAM, or the one-line error (a model that does not fit the board says so there).

    .venv/bin/python scripts/verify_classical.py [--boards host mps2-an386 arduino-mega] [--out t.md]

Exit status 1 if any run does not match or any command fails, except the one-line refusal of a model
that does not fit the board ("... exceeds by N bytes").
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench_classical import MODELS, ROOT, classical_models  # the benchmark's models, trained the same way

BOARDS = ["host", "mps2-an386", "arduino-mega"]
NATIVE = {"xgboost": "xgb.json", "lightgbm": "lgbm.txt"}  # save_model's formats, read directly


def microc(*args: str, timeout: float = 1800) -> tuple[dict | None, str]:
    """Run the microc command line; its JSON report (with --json) and its last stderr line."""
    res = subprocess.run([sys.executable, "-m", "microc", *args], capture_output=True, text=True,
                         timeout=timeout, cwd=ROOT)
    lines = res.stderr.strip().splitlines()
    error = "" if res.returncode == 0 else (lines[-1] if lines else f"exit {res.returncode}")
    report = json.loads(res.stdout) if "--json" in args and res.stdout.strip().startswith("{") else None
    return report, error


def cell(report: dict | None, error: str) -> dict:
    if report is None:
        return {"match": None, "error": error or "no report"}
    return {"match": report["match"], "instructions": report.get("instructions"), "samples": report["samples"],
            "flash": report.get("flash_bytes"), "ram": report.get("ram_bytes"), "error": error}


def deploy(model: Path, board: str, out: Path, samples: int) -> dict:
    return cell(*microc("deploy", str(model), "--board", board, "-o", str(out), "-n", str(samples),
                        "--verify", "--json"))


def compile_build_run(model: Path, board: str, out: Path, x: Path) -> dict:
    for args in (["compile", str(model), "--board", board, "-o", str(out)], ["build", str(out)]):
        _, error = microc(*args)
        if error:
            return {"match": None, "error": f"{args[0]}: {error}"}
    return cell(*microc("run", str(out), "--input", str(x), "--verify", "--json"))


def models(work: Path, n_held_out: int, keep: list[str] | None) -> list[tuple[str, Path, Path]]:
    """(name, model file, held-out samples .npy) for each benchmark model (and native format) in `keep`."""
    out = []
    for kind, data in MODELS:
        if keep and not any(k in f"{kind}_{data}" for k in keep):
            continue
        print(f"verify: training {kind} on {data}", file=sys.stderr)
        t = classical_models.train(kind, data, work / f"{kind}_{data}")
        x = work / f"{t.name}-x.npy"
        np.save(x, t.x_test[:n_held_out, None, :])
        out.append((t.name, t.onnx_path, x))
        if kind in NATIVE:
            native = work / t.name / NATIVE[kind]
            (t.model if kind == "xgboost" else t.model.booster_).save_model(str(native))
            out.append((f"{t.name} ({native.suffix[1:]})", native, x))
    return out


def fmt(c: dict) -> str:
    if c["match"] is None:
        return f"- ({c['error']})"
    verdict = "match" if c["match"] else "**MISMATCH**"
    cost = f", {c['instructions']:,} instr" if c["instructions"] else ""  # the host counts none
    return f"{verdict}, {c['samples']} samples{cost}"


def table(rows: list[dict]) -> str:
    lines = ["| model | board | deploy --verify (random) | compile/build/run --verify (held-out) | flash | RAM |",
             "|---|---|---|---|---:|---:|"]
    for r in rows:
        d, c = r["deploy"], r["cbr"]
        size = d if d["match"] is not None else c
        flash = f"{size['flash']:,}" if size.get("flash") else "-"
        ram = f"{size['ram']:,}" if size.get("ram") else "-"
        lines.append(f"| {r['model']} | {r['board']} | {fmt(d)} | {fmt(c)} | {flash} | {ram} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", nargs="*", default=BOARDS)
    ap.add_argument("--models", nargs="*", help="substrings of the model names to keep (default: all)")
    ap.add_argument("--samples", type=int, default=3, help="random inputs of deploy")
    ap.add_argument("--held-out", type=int, default=10, help="held-out samples of run --input")
    ap.add_argument("--out", type=Path, help="also write the markdown table here")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="verify-classical-") as tmp:
        work = Path(tmp)
        for name, model, x in models(work, args.held_out, args.models):
            for board in args.boards:
                print(f"verify: {name} on {board}", file=sys.stderr)
                tag = f"{name.replace(' ', '_').replace('(', '').replace(')', '')}-{board}"
                rows.append({"model": name, "board": board,
                             "deploy": deploy(model, board, work / f"d-{tag}", args.samples),
                             "cbr": compile_build_run(model, board, work / f"c-{tag}", x)})
                print(table(rows[-1:]).splitlines()[-1], file=sys.stderr)
    text = table(rows)
    print(text)
    if args.out:
        args.out.write_text(text)
    failed = [c for r in rows for c in (r["deploy"], r["cbr"])
              if c["match"] is False or (c["match"] is None and "exceeds by" not in c["error"])]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
