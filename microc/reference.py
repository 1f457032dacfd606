"""The reference every output is checked against: TensorFlow Lite Micro's interpreter on the host for
.tflite models, onnxruntime (CPU) for .onnx models, XGBoost's and LightGBM's own predict for their native model files."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from microc.errors import MicrocError

_ARENA = 8 * 1024 * 1024


def reference_outputs(model_path: str | Path, inputs: list[np.ndarray], n_outputs: int) -> list[np.ndarray]:
    """Run one sample (one array per model input) through TFLite Micro or onnxruntime; returns its outputs."""
    if Path(model_path).suffix == ".onnx":
        return _onnx_outputs(str(model_path), inputs)[:n_outputs]
    if Path(model_path).suffix not in (".tflite", ".onnx"):  # XGBoost, LightGBM: the library's own predict
        from microc.frontends.native import native_reference
        return native_reference(Path(model_path), inputs)[:n_outputs]
    interp = _interpreter(str(model_path))
    for i, x in enumerate(inputs):
        interp.set_input(x, i)
    interp.invoke()
    return [np.array(interp.get_output(i)) for i in range(n_outputs)]


def reference_sequence(model_path: str | Path, samples: list[list[np.ndarray]],
                       n_outputs: int) -> list[list[np.ndarray]]:
    """Run the samples one after the other from the model's initial state: a stateful model's
    (variable tensors: SVDF, LSTM state) outputs depend on the samples before, as on the device."""
    if Path(model_path).suffix == ".tflite":
        _interpreter(str(model_path)).reset()  # TFLM's ResetVariableTensors
    return [reference_outputs(model_path, sample, n_outputs) for sample in samples]


_cache: dict[str, object] = {}


def _interpreter(path: str):
    if path not in _cache:
        from tflite_micro.python.tflite_micro import runtime
        try:
            _cache[path] = runtime.Interpreter.from_file(path, arena_size=_ARENA)
        except Exception as e:
            raise MicrocError(f"TensorFlow Lite Micro cannot run {Path(path).name}: {e}") from None
    return _cache[path]


def _onnx_outputs(path: str, inputs: list[np.ndarray]) -> list[np.ndarray]:
    if path not in _cache:
        import onnxruntime
        try:
            _cache[path] = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise MicrocError(f"onnxruntime cannot run {Path(path).name}: {str(e).splitlines()[0]}") from None
    sess = _cache[path]
    feeds = {i.name: x for i, x in zip(sess.get_inputs(), inputs)}
    return [_as_array(y) for y in sess.run(None, feeds)]


def _as_array(y) -> np.ndarray:
    """An output as an array; ZipMap's list of {label: probability} maps becomes [samples, classes]."""
    if isinstance(y, list) and y and isinstance(y[0], dict):
        return np.array([[d[k] for k in sorted(d)] for d in y], np.float32)
    return np.asarray(y)
