"""The Arduino layout of a rendered project: a sketch folder and the model as an Arduino library.

    <name>/<name>.ino                  the sketch: setup() runs mc_main() (templates/common/main.c.j2)
    libraries/microc_<name>/library.properties
    libraries/microc_<name>/src/       the model, the runtime sources and headers, the platform, main.c

The library's src/ is flat because Arduino builders add only src/ itself to the include path. The
sketch includes the model's header, which is how arduino-builder and arduino-cli find the library.
"""
from __future__ import annotations

import shutil
from pathlib import Path

SOURCE_SUFFIXES = (".c", ".cpp", ".h")


def library_name(name: str) -> str:
    return f"microc_{name}"


def library_dir(root: Path, name: str) -> Path:
    return Path(root) / "libraries" / library_name(name)


def sketch_path(root: Path, name: str) -> Path:
    return Path(root) / name / f"{name}.ino"


def arrange_arduino(root: Path, name: str, runtime_dir: str, platform_dir: str) -> None:
    """Move what render_project wrote (templates at the root, model/, the runtime and platform
    folders) into the sketch and library folders. model/ keeps only files that are not C sources."""
    root = Path(root)
    src = library_dir(root, name) / "src"
    src.mkdir(parents=True)
    shutil.move(str(root / "library.properties"), library_dir(root, name) / "library.properties")
    sketch_path(root, name).parent.mkdir()
    shutil.move(str(root / "sketch.ino"), sketch_path(root, name))
    folders = [root, root / "model", root / runtime_dir / "include", root / runtime_dir / "src",
               root / platform_dir]
    for folder in folders:
        for f in sorted(folder.glob("*")):
            if f.is_file() and f.suffix in SOURCE_SUFFIXES:
                shutil.move(str(f), src / f.name)
    shutil.rmtree(root / runtime_dir)
    shutil.rmtree(root / platform_dir)
