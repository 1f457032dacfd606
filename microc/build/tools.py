"""Running a build tool (make, arduino-builder, arduino-cli, west, cmake): a missing tool, a timeout and a
failure each become one line, the failure naming the tool's first error."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Callable

from microc.errors import MicrocError


def first_error(output: str) -> str:
    """The compiler's or linker's first error line, else the tool's last line."""
    lines = [l.strip() for l in output.splitlines() if l.strip()]
    for pattern in (r"\berror\b", r"undefined reference|cannot find|overflowed|will not fit"):
        for line in lines:
            if re.search(pattern, line, re.IGNORECASE):
                return line
    return lines[-1] if lines else "make failed without output"


def need_tool(tool: str, package: str, error: type[MicrocError]) -> None:
    if shutil.which(tool) is None:
        raise error(f"{tool} not found: install the Debian package {package} (scripts/setup.sh does)")


def run_tool(cmd: list[str], error: type[MicrocError], timeout: float, running: str, failed: str,
             cwd: Path | None = None, hint: Callable[[str], str] = lambda output: "") -> None:
    """Run `cmd`; on a timeout "<running> did not finish within T s", on a failure
    "<failed>: <first error><hint(output)>", both raised as `error`."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise error(f"{running} did not finish within {timeout:g} s") from None
    if proc.returncode != 0:
        output = proc.stderr + proc.stdout
        raise error(f"{failed}: {first_error(output)}{hint(output)}")
