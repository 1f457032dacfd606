"""Model importers: each reads one file format into the IR (microc.ir)."""
from __future__ import annotations

from pathlib import Path

from microc.errors import ModelFormatError
from microc.ir import Graph


def load_model(path: str | Path) -> Graph:
    path = Path(path)
    if not path.exists():
        raise ModelFormatError(f"model file not found: {path}")
    if path.suffix == ".tflite":
        from microc.frontends.tflite import load_tflite
        return load_tflite(path)
    raise ModelFormatError(f"{path.name}: unknown model format '{path.suffix}' (expected .tflite)")
