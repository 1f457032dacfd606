"""Model importers: each reads one file format into the IR (microc.ir)."""
from __future__ import annotations

from pathlib import Path

from microc.errors import ModelFormatError
from microc.ir import Graph


def load_model(path: str | Path, input_shapes: dict[str, tuple[int, ...]] | None = None,
               for_quantization: bool = False) -> Graph:
    """Import a model and validate it (microc/passes/validate.py): everything downstream reads a
    well-formed graph. input_shapes fixes dynamic input dimensions (ONNX only). for_quantization
    (`microc quantize`): an ONNX LSTM is unrolled into builtins TFLM can calibrate and verify, instead of
    the float32 LSTM kernel (docs/recurrent.md)."""
    from microc.passes.validate import validate
    return validate(_import(Path(path), input_shapes, for_quantization))


def _import(path: Path, input_shapes: dict[str, tuple[int, ...]] | None, for_quantization: bool) -> Graph:
    if not path.exists():
        raise ModelFormatError(f"model file not found: {path}")
    from microc.frontends import native
    if native.is_pickle(path):
        raise native.refuse_pickle(path)
    for recognize, load in ((native.is_xgboost_json, native.load_xgboost_json),
                            (native.is_lightgbm_text, native.load_lightgbm_text)):
        if recognize(path):
            import hashlib
            graph = load(path)
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
        return load_onnx(path, input_shapes, for_quantization)
    raise ModelFormatError(f"{path.name}: unknown model format '{path.suffix}' (expected .tflite, .onnx, an XGBoost .json or a LightGBM text model)")
