"""The tuning database: one JSON object per line, one line per measured (layer, schedule).

    {"microc": "0.1.0", "board": "mps2-an386", "cpu": "cortex-m4", "op": "CONV_2D",
     "signature": "<signature.signature(op)>", "features": {...}, "schedule": {"isa": "dsp", ...},
     "instructions": 123456, "cycles": 150000, "code_bytes": 9876, "verified": true,
     "model": "kws_ref_model", "space": [{...}, ...], "time": "2026-12-03T10:30:00Z"}

`code_bytes` is the code (flash less weights) of the measurement firmware the candidate ran in; `space`
the layer's candidate schedules when it was tuned (its default first).
compile/deploy/bench look each layer up in the user's database (default_path(): MICROC_TUNING_DB, else
$XDG_CACHE_HOME/microc/tuning.jsonl, else ~/.cache/microc/tuning.jsonl; --db overrides) and then in the
one shipped with microc (shipped.jsonl, TVM's TopHub idea): the best verified record of the layer's
(CPU, operator, signature) whose schedule is one of the layer's candidates wins."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from microc.errors import MicrocError

SHIPPED = Path(__file__).with_name("shipped.jsonl")
OBJECTIVES = ("cycles", "instructions", "code")


def default_path() -> Path:
    if os.environ.get("MICROC_TUNING_DB"):
        return Path(os.environ["MICROC_TUNING_DB"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "microc" / "tuning.jsonl"


def load(path: Path) -> list[dict]:
    """The records of a database file (none if it does not exist); a line that is not a record is an
    error naming the file and line."""
    if not path.is_file():
        return []
    records = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or not {"cpu", "op", "signature", "schedule"} <= rec.keys():
                raise ValueError("not a tuning record")
        except ValueError as e:
            raise MicrocError(f"{path}:{n}: not a tuning record ({e})") from None
        records.append(rec)
    return records


def append(path: Path, records: list[dict]) -> None:
    """Add records at the end (whole lines, flushed: a record is written entirely or not at all)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    except OSError as e:
        raise MicrocError(f"cannot write the tuning database {path}: {e.strerror}") from None


def cost(record: dict, objective: str) -> float:
    """The figure the objective minimizes (cycles fall back to instructions where there is no estimate)."""
    if objective == "code":
        return record.get("code_bytes") or float("inf")
    if objective == "cycles" and record.get("cycles") is not None:
        return record["cycles"]
    return record.get("instructions") if record.get("instructions") is not None else float("inf")


@dataclass(frozen=True)
class Tuned:
    schedule: dict  # the record's knobs
    source: str  # "user" or "shipped"
    record: dict


def best(records: list[dict], cpu: str, op: str, sig: str, allowed: list[dict],
         objective: str = "cycles") -> dict | None:
    """The best verified record of (cpu, op, sig) whose schedule is one of `allowed` (knob dicts, the
    layer's default first). None unless the default was measured too, or the tuner left it out by its
    cost model from this same search space (`space`): a database made before a better default existed
    (a new ISA path, a new kernel) must not replace it with the best of the older candidates."""
    found = [r for r in records if r.get("verified") and r["cpu"] == cpu and r["op"] == op
             and r["signature"] == sig and r["schedule"] in allowed]
    if not any(r["schedule"] == allowed[0] or r.get("space") == allowed for r in found):
        return None
    return min(found, key=lambda r: cost(r, objective))


def lookup(layers: dict[int, tuple[str, str, list[dict]]], cpu: str, user_db: Path,
           objective: str = "cycles") -> dict[int, Tuned]:
    """step -> Tuned for each layer (step -> (op, signature, candidate knob dicts)) that has a record,
    from the user's database first, then the shipped one."""
    sources = [("user", load(user_db)), ("shipped", load(SHIPPED))]
    out = {}
    for step, (op, sig, allowed) in layers.items():
        for source, records in sources:
            rec = best(records, cpu, op, sig, allowed, objective)
            if rec is not None:
                out[step] = Tuned(rec["schedule"], source, rec)
                break
    return out
