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
        # A new interpreter: TFLM's reset() does not rerun CALL_ONCE (resource variables,
        # docs/recurrent.md), so one that has already run is not in the initial state even after it.
        _cache.pop(str(model_path), None)
    return [reference_outputs(model_path, sample, n_outputs) for sample in samples]


def reference_chain(front: str | Path, back: str | Path, hop: int, frames: int, front_shape, back_shape,
                    samples: list[list[np.ndarray]], n_outputs: int) -> list[list[np.ndarray]]:
    """The pipeline of a firmware of two models (microc/codegen/chain.py) on the reference: per sample,
    `front` over `frames` windows `hop` elements apart from its initial state, its outputs stacked into
    `back`'s input."""
    size = int(np.prod(front_shape))
    out = []
    for sample in samples:
        x = np.asarray(sample[0]).reshape(-1)
        windows = [[x[i * hop:i * hop + size].reshape(front_shape)] for i in range(frames)]
        rows = reference_sequence(front, windows, 1)
        stacked = np.concatenate([r[0].reshape(-1) for r in rows]).reshape(back_shape)
        out.append(reference_outputs(back, [stacked], n_outputs))
    return out


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
            model = _time_major(path)
            _cache[path] = onnxruntime.InferenceSession(model or path, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise MicrocError(f"onnxruntime cannot run {Path(path).name}: {str(e).splitlines()[0]}") from None
    sess = _cache[path]
    feeds = {i.name: x for i, x in zip(sess.get_inputs(), inputs)}
    return [_as_array(y) for y in sess.run(None, feeds)]


_RECURRENT = {"LSTM": (0, 5, 6), "GRU": (0, 5), "RNN": (0, 5)}  # inputs X, initial_h (, initial_c)


def _time_major(path: str) -> bytes | None:
    """onnxruntime refuses batch-major (layout=1) recurrent nodes: the model with each such node run
    time-major (layout=0) between Transposes, serialized; None when it has none."""
    import onnx
    from onnx import helper
    model = onnx.load(path)
    nodes = [onnx.NodeProto() for _ in model.graph.node]  # copies: the graph's own are replaced below
    for n, original in zip(nodes, model.graph.node):
        n.CopyFrom(original)
    layouts = {k: a for k, n in enumerate(nodes) for a in n.attribute
               if n.op_type in _RECURRENT and a.name == "layout" and a.i == 1}
    if not layouts:
        return None
    rewritten = []
    for k, n in enumerate(nodes):
        if k not in layouts:
            rewritten.append(n)
            continue
        layouts[k].i = 0
        for i in _RECURRENT[n.op_type]:
            if i < len(n.input) and n.input[i]:
                rewritten.append(helper.make_node("Transpose", [n.input[i]], [f"{n.input[i]}__tm"],
                                                  perm=[1, 0, 2]))
                n.input[i] = f"{n.input[i]}__tm"
        after = []
        for j, out in enumerate(n.output):
            if out:
                n.output[j] = f"{out}__tm"
                after.append(helper.make_node("Transpose", [n.output[j]], [out],
                                              perm=[2, 0, 1, 3] if j == 0 else [1, 0, 2]))
        rewritten += [n, *after]
    del model.graph.node[:]
    model.graph.node.extend(rewritten)
    return model.SerializeToString()


def _as_array(y) -> np.ndarray:
    """An output as an array; ZipMap's list of {label: probability} maps becomes [samples, classes]."""
    if isinstance(y, list) and y and isinstance(y[0], dict):
        return np.array([[d[k] for k in sorted(d)] for d in y], np.float32)
    return np.asarray(y)
