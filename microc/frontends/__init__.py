"""Model importers: each reads one file format into the IR (microc.ir)."""
from __future__ import annotations

from pathlib import Path

from microc.errors import ModelFormatError
from microc.ir import Graph


def load_model(path: str | Path, input_shapes: dict[str, tuple[int, ...]] | None = None) -> Graph:
    """Import a model; input_shapes fixes dynamic input dimensions (ONNX only)."""
    path = Path(path)
    if not path.exists():
        raise ModelFormatError(f"model file not found: {path}")
    from microc.frontends.native import is_pickle, is_xgboost_json, load_xgboost_json, refuse_pickle
    if is_pickle(path):
        raise refuse_pickle(path)
    if is_xgboost_json(path):
        import hashlib
        graph = load_xgboost_json(path)
        graph.source_hash = hashlib.sha256(path.read_bytes()).hexdigest()
        return graph
    if path.suffix == ".tflite":
        from microc.frontends.tflite import load_tflite
        if input_shapes:
            raise ModelFormatError("--input-shape applies to .onnx models; "
                                   "a .tflite model's shapes are fixed")
        return load_tflite(path)
    if path.suffix == ".onnx":
        from microc.frontends.onnx import load_onnx
        return load_onnx(path, input_shapes)
    raise ModelFormatError(f"{path.name}: unknown model format '{path.suffix}' (expected .tflite, .onnx or an XGBoost .json)")
