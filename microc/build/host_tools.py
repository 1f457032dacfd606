"""Small C programs of microc's own that run on this machine beside the emulators (the libsimavr harness,
the QEMU plugin), built with the host's C compiler on first use and by scripts/setup.sh, into a cache
folder keyed by the source's hash and flags: an installed microc builds them wherever it runs."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "microc"


def host_tool(source: Path, flags: list[str], suffix: str = "") -> tuple[Path | None, str]:
    """(the built file, "") or (None, why it could not be built). `flags` go after the source (libraries)."""
    digest = hashlib.sha256(source.read_bytes() + "\0".join(flags).encode()).hexdigest()[:16]
    out = cache_dir() / f"{source.stem}-{digest}{suffix}"
    if out.is_file():
        return out, ""
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        return None, f"no host C compiler ({cc}) to build {source.name}: install the Debian package gcc"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            built = Path(tmp) / out.name
            proc = subprocess.run([cc, "-O2", "-o", str(built), str(source), *flags],
                                  capture_output=True, text=True, timeout=120)
            if proc.returncode != 0:
                err = (proc.stderr.strip().splitlines() or ["no message"])[0]
                return None, f"{source.name} did not compile: {err}"
            os.replace(built, out)  # atomic: a parallel run sees the whole file or none
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"cannot build {source.name} in {out.parent}: {e}"
    return out, ""
