"""Model files microc recognizes but does not read as such: pickles (scikit-learn's joblib/pickle
dumps, XGBoost/LightGBM models pickled) are refused with the reason and the safe way instead."""
from __future__ import annotations

from pathlib import Path

from microc.errors import ModelFormatError

PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".sav", ".pck"}


def is_pickle(path: Path) -> bool:
    """A pickle by name, or by its first bytes (protocol 2 and later start with 0x80 and the version)."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    with open(path, "rb") as f:
        head = f.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def refuse_pickle(path: Path) -> ModelFormatError:
    return ModelFormatError(
        f"{path.name} is a Python pickle: loading one runs arbitrary code, so microc never does; "
        "export the model to ONNX instead (skl2onnx for scikit-learn, onnxmltools for XGBoost and LightGBM)")
