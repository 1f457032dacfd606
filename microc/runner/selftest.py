"""Run a self-test firmware (compiled with --selftest N): it needs no host link, only a console that
shows what it prints. The verdict is its last line, PASS or FAIL; the exit status must agree."""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from microc.errors import DeviceError
from microc.runner.counter import CounterInfo


@dataclass
class SelftestResult:
    passed: bool
    output: str
    exit_status: int | None
    counter: CounterInfo = field(default_factory=lambda: CounterInfo("timer"))
    # per sample, under QEMU with the counting plugin: exact instructions and estimated cycles
    per_sample: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        median = lambda k: int(np.median([s[k] for s in self.per_sample])) if self.per_sample else None  # noqa: E731
        return {"selftest": True, "passed": self.passed, "exit_status": self.exit_status,
                "stack_bytes": self.stack_bytes, "counter": self.counter.kind, "counter_note": self.counter.note,
                "instructions": median("instructions"), "cycles": median("cycles"), "per_sample": self.per_sample,
                "output": self.output}

    @property
    def stack_bytes(self) -> int | None:
        """The stack's high-water mark the firmware printed ("stack N bytes"), if it measures it."""
        m = re.search(r"^stack (\d+) bytes$", self.output, re.M)
        return int(m.group(1)) if m else None


def run_selftest(board, artifact: str | Path, timeout: float = 120.0) -> SelftestResult:
    counter, per_sample = CounterInfo("timer"), []
    if board.family == "host":
        status, text = _run_host(Path(artifact), timeout)
    elif board.simavr:
        from microc.runner.simavr import run_simavr
        status, text = run_simavr(board, artifact, timeout)
    else:
        from microc.cycles import TimingModel
        from microc.runner.qemu import console_run
        run = console_run(board, artifact, timeout)
        status, text, counter = run.status, run.text, run.counter
        model = TimingModel.for_board(board)
        per_sample = [{"instructions": r.total.instructions, "cycles": model.cycles(r.total.by_class)}
                      for r in run.records]
    if status is None:
        raise DeviceError(f"self-test on {board.name} did not finish within {timeout:g} s: "
                          f"{_last_line(text) or 'no output'}")
    verdict = _last_line(text)
    if not verdict.endswith((" PASS", " FAIL")):
        raise DeviceError(f"self-test on {board.name} ended (status {status}) without a verdict: "
                          f"{verdict or 'no output'}")
    passed = verdict.endswith(" PASS") and status == 0
    return SelftestResult(passed, text, status, counter, per_sample)


def _run_host(artifact: Path, timeout: float) -> tuple[int | None, str]:
    try:
        proc = subprocess.run([str(artifact)], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return None, (e.stdout or b"").decode("utf-8", "replace")
    except OSError as e:
        raise DeviceError(f"cannot start {artifact}: {e.strerror}") from None
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def _last_line(text: str) -> str:
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    return lines[-1] if lines else ""


def run_selftest_project(project: str | Path, timeout: float = 120.0) -> SelftestResult:
    """The self-test of a built project compiled with --selftest N."""
    from microc.boards import load_board
    from microc.build import read_build_result
    from microc.pipeline import read_manifest
    board = load_board(read_manifest(project)["board"])
    return run_selftest(board, read_build_result(project)["artifact"], timeout)
