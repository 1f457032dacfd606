"""TensorFlow Lite Micro's measured figures: the file scripts/bench_tflm.py writes and `microc bench` reads.

TFLM is the user's optional checkout, never part of microc: the script builds it, counts it with microc's QEMU
plugin and writes the rows here; the benchmark prints them beside microc's, with where they came from, and
says plainly when there are none. No figure of TFLM lives in the code."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from microc.errors import MicrocError

DEFAULT_PATH = Path.home() / ".cache" / "microc" / "tflm" / "baselines.json"
FORMAT = 1
TOOLS = ("microc", "TFLM reference", "TFLM CMSIS-NN")


@dataclass
class Row:
    model: str  # the .tflite file's stem
    board: str
    tool: str  # one of TOOLS
    instructions: int | None
    cycles: int | None  # estimated (docs/cycles.md)
    arena_bytes: int
    matches_microc: bool
    code_bytes: int | None = None  # flash less the weights (microc) or less the embedded .tflite (TFLM)


@dataclass
class Baselines:
    """One measurement run's rows and what they were measured from."""
    rows: list[Row]
    tflm_commit: str
    cmsis_nn_commit: str
    microc_commit: str
    date: str  # UTC, ISO 8601
    path: Path | None = field(default=None, compare=False)

    def get(self, model: str, board: str, tool: str) -> Row | None:
        return next((r for r in self.rows if (r.model, r.board, r.tool) == (model, board, tool)), None)

    def source(self) -> str:
        """One sentence for under a table: where the TFLM columns come from."""
        return (f"TFLM columns measured by scripts/bench_tflm.py on {self.date[:10]} (tflite-micro "
                f"{self.tflm_commit}, CMSIS-NN {self.cmsis_nn_commit}; microc {self.microc_commit} beside "
                f"them){f': {self.path}' if self.path else ''}.")


def absent(path: Path) -> str:
    return (f"TFLM columns empty: TFLM not measured (no {path}; scripts/bench_tflm.py measures it from your "
            "own TFLM checkouts, docs/benchmark.md).")


def read(path: Path = DEFAULT_PATH) -> Baselines | None:
    """The file's baselines, None when there is no file; a damaged file is an error, not an empty table."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
        rows = [Row(**r) for r in data["rows"]]
        return Baselines(rows, data["tflm_commit"], data["cmsis_nn_commit"], data["microc_commit"],
                         data["date"], path)
    except (ValueError, KeyError, TypeError) as e:
        raise MicrocError(f"{path}: not a TFLM baselines file of scripts/bench_tflm.py ({e})") from None


def write(path: Path, new: Baselines) -> Baselines:
    """Write `new` to `path`, keeping the rows of an earlier run of the same checkouts for the models and
    boards `new` did not measure (so one model re-measured does not drop the others)."""
    path = Path(path)
    old = read(path)
    rows, microc = list(new.rows), new.microc_commit
    if old and (old.tflm_commit, old.cmsis_nn_commit) == (new.tflm_commit, new.cmsis_nn_commit):
        done = {(r.model, r.board) for r in rows}
        kept = [r for r in old.rows if (r.model, r.board) not in done]
        rows = kept + rows
        if kept and old.microc_commit != new.microc_commit:  # the kept rows' microc figures are another's
            microc = ", ".join(dict.fromkeys([microc, *old.microc_commit.split(", ")]))
    merged = Baselines(rows, new.tflm_commit, new.cmsis_nn_commit, microc, new.date, path)
    body = {"format": FORMAT, **{k: v for k, v in asdict(merged).items() if k != "path"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=1) + "\n")
    tmp.replace(path)  # never a half-written file
    return merged
