"""Render templates/<family>/ (over templates/common/) into a project folder and copy in the runtime.

Every file of the template folders lands in the project at the same relative path: files ending in
`.j2` are rendered with Jinja2 (the suffix dropped), others are copied. A family's folder overrides
common/ file by file. The runtime goes in as plain sources: runtime_c/include and runtime_c/src, and
the platform files the board lists (runtime_c/platform/), so the project builds without microc.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import jinja2

from microc import RUNTIME_C, TEMPLATES
from microc.errors import MicrocError

RUNTIME_DIR = "runtime"
PLATFORM_DIR = "platform"


def render_project(root: str | Path, board, name: str, selftest: int = 0) -> None:
    """`selftest`: how many embedded samples main() checks (model/selftest_data.c, written by
    write_selftest); 0 for a firmware that serves the runner protocol."""
    root = Path(root)
    family_dir = TEMPLATES / board.family
    if not family_dir.is_dir():
        raise MicrocError(f"board {board.name}: no templates for family '{board.family}' in {TEMPLATES}")
    _copy_runtime(root, board)
    context = {"board": board, "name": name, "selftest": selftest, "regions": board.memory,
               "platform_files": list(board.platform)}
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([str(family_dir), str(TEMPLATES / "common")]),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["hex"] = lambda n: f"0x{int(n):08X}"
    for rel in sorted(_template_files(family_dir) | _template_files(TEMPLATES / "common")):
        dest = root / rel.removesuffix(".j2")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".j2"):
            try:
                dest.write_text(env.get_template(rel).render(context))
            except jinja2.TemplateError as e:
                raise MicrocError(f"template {board.family}/{rel} failed for {board.name}: {e}") from None
        else:
            src = family_dir / rel if (family_dir / rel).exists() else TEMPLATES / "common" / rel
            shutil.copyfile(src, dest)


def _template_files(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _copy_runtime(root: Path, board) -> None:
    for sub in ("include", "src"):
        shutil.copytree(RUNTIME_C / sub, root / RUNTIME_DIR / sub,
                        ignore=shutil.ignore_patterns("*.o", "__pycache__"))
    (root / PLATFORM_DIR).mkdir(exist_ok=True)
    for f in board.platform:
        shutil.copyfile(RUNTIME_C / "platform" / f, root / PLATFORM_DIR / f)
