"""Render templates/<family>/ (over templates/common/) into a project folder and copy in the runtime.

Every file of the template folders lands in the project at the same relative path: files ending in
`.j2` are rendered with Jinja2 (the suffix dropped), others are copied. A family's folder overrides
common/ file by file. The runtime goes in as plain sources: runtime_c/include and runtime_c/src, and
the platform files the board lists (runtime_c/platform/), so the project builds without microc. Of
runtime_c/src only the files that define functions the project calls are copied (the closure from main.c,
the model and the platform), so a project holds what it needs and nothing else.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import jinja2

from microc import RUNTIME_C, TEMPLATES
from microc.errors import MicrocError

RUNTIME_DIR = "runtime"
PLATFORM_DIR = "platform"
# What main.c's entry function is called where the family's own code calls it (an Arduino sketch's
# setup(), since the Arduino core defines main()).
ENTRY_POINTS = {"arduino": "mc_main"}


def render_project(root: str | Path, board, name: str, selftest: int = 0, models: list[str] | None = None,
                   arena_objects: list[str] | None = None) -> None:
    """`selftest`: how many embedded samples main() checks (model/selftest_data.c, written by
    write_selftest); 0 for a firmware that serves the runner protocol. `name` names the firmware;
    `models`: the C names of the models it serves (default: the one model `name`), `arena_objects`: the
    sources whose zero-initialised data the link script places in the arena region (default: `models`)."""
    models = models or [name]
    if selftest and len(models) > 1:
        raise MicrocError("a self-test firmware holds one model")
    root = Path(root)
    family_dir = TEMPLATES / board.family
    if not family_dir.is_dir():
        raise MicrocError(f"board {board.name}: no templates for family '{board.family}' in {TEMPLATES}")
    context = {"board": board, "name": name, "models": models, "arena_objects": arena_objects or models,
               "selftest": selftest, "regions": board.memory,
               "platform_files": list(board.platform), "entry_point": ENTRY_POINTS.get(board.family, "main")}
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
    _copy_runtime(root, board)
    if board.family == "arduino":
        from microc.project.arduino import arrange_arduino
        arrange_arduino(root, name, RUNTIME_DIR, PLATFORM_DIR)


def _template_files(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _copy_runtime(root: Path, board) -> None:
    """After the templates and the model are in place: headers, platform files, needed sources."""
    shutil.copytree(RUNTIME_C / "include", root / RUNTIME_DIR / "include")
    (root / PLATFORM_DIR).mkdir(exist_ok=True)
    for f in board.platform:
        shutil.copyfile(RUNTIME_C / "platform" / f, root / PLATFORM_DIR / f)
    (root / RUNTIME_DIR / "src").mkdir()
    for src in needed_sources(list(root.glob("*.c")) + list((root / "model").glob("*.c"))
                              + list((root / PLATFORM_DIR).glob("*.c*"))):
        shutil.copyfile(src, root / RUNTIME_DIR / "src" / src.name)


_CALL = re.compile(r"\b(mc_\w+)\s*\(")


def needed_sources(start: list[Path]) -> list[Path]:
    """The files of runtime_c/src that define an mc_* function called from `start` or from each other.
    A file counts as defining a name when the name is followed by "(" on a line that does not end with
    ";" (a definition's signature): generous on purpose, since an extra file only costs compile time
    (the linker drops what is unused) while a missing one fails the link."""
    sources = sorted((RUNTIME_C / "src").glob("*.c"))
    texts = {p: p.read_text() for p in sources}
    defines = {p: {m.group(1) for line in t.splitlines() if not line.rstrip().endswith(";")
                   for m in _CALL.finditer(line)} for p, t in texts.items()}
    wanted = {m for p in start for m in _CALL.findall(p.read_text())}
    chosen: list[Path] = []
    while True:
        new = [p for p in sources if p not in chosen and defines[p] & wanted]
        if not new:
            return chosen
        chosen += new
        for p in new:
            wanted |= set(_CALL.findall(texts[p]))
