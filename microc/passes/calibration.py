"""Calibration for post-training quantization: load the user's samples, run the float graph on
TensorFlow Lite Micro with every activation as a graph output, and estimate each tensor's range.

Running TFLM (rather than kernels of our own) keeps one float implementation: the reference.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from microc.errors import MicrocError
from microc.ir import Graph, Tensor

METHODS = ("minmax", "percentile")


class CalibrationError(MicrocError):
    pass


# ---- calibration data: a list of samples, each one float32 array per graph input ----


def load_calibration(path: str | Path, graph: Graph) -> list[list[np.ndarray]]:
    """Samples from a .npy (N x input shape, or one sample), a .npz (one array per input name, or
    arr_0) or a folder of .npy files; every array must be floating point and fit the input's shape."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.npy"))
        if not files:
            raise CalibrationError(f"calibration folder {path} holds no .npy files")
        _single_input(graph, path)
        per_input = [np.concatenate([_samples(_load_npy(f), graph.inputs[0], f.name) for f in files])]
    elif path.suffix == ".npy":
        _single_input(graph, path)
        per_input = [_samples(_load_npy(path), graph.inputs[0], path.name)]
    elif path.suffix == ".npz":
        per_input = _npz_samples(path, graph)
    elif not path.exists():
        raise CalibrationError(f"calibration data not found: {path}")
    else:
        raise CalibrationError(f"calibration data {path.name}: expected a .npy, a .npz or a folder of .npy")
    counts = {len(s) for s in per_input}
    if len(counts) != 1:
        raise CalibrationError(f"calibration data {path.name}: inputs have different sample counts "
                               f"{sorted(counts)}")
    if counts == {0}:
        raise CalibrationError(f"calibration data {path.name} holds no samples")
    return [[s[i] for s in per_input] for i in range(counts.pop())]


def _single_input(graph: Graph, path: Path) -> None:
    if len(graph.inputs) != 1:
        names = ", ".join(t.name for t in graph.inputs)
        raise CalibrationError(f"{path.name}: the model has {len(graph.inputs)} inputs ({names}); "
                               "give a .npz with one array per input name")


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise CalibrationError(f"cannot read calibration file {path.name}: {e}") from None


def _npz_samples(path: Path, graph: Graph) -> list[np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
        arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError) as e:
        raise CalibrationError(f"cannot read calibration file {path.name}: {e}") from None
    if len(graph.inputs) == 1 and list(arrays) == ["arr_0"]:
        return [_samples(arrays["arr_0"], graph.inputs[0], f"{path.name}:arr_0")]
    missing = [t.name for t in graph.inputs if t.name not in arrays]
    if missing:
        raise CalibrationError(f"calibration data {path.name}: no array for input(s) {', '.join(missing)} "
                               f"(has {', '.join(arrays) or 'none'})")
    return [_samples(arrays[t.name], t, f"{path.name}:{t.name}") for t in graph.inputs]


def _samples(arr: np.ndarray, t: Tensor, where: str) -> np.ndarray:
    """`arr` as [N, *t.shape] float32: one sample of t's shape, or N of them along a new leading
    axis (or along the batch axis when the input's batch is 1)."""
    if arr.dtype.kind != "f":
        raise CalibrationError(f"calibration data {where}: expected float32 values for input "
                               f"{t.name!r}, got {arr.dtype}")
    shape = tuple(t.shape)
    if arr.shape == shape:
        arr = arr[None]
    elif arr.shape[1:] == shape:
        pass
    elif shape and shape[0] == 1 and arr.shape[1:] == shape[1:]:
        arr = arr[:, None]
    else:
        batch = shape[1:] if shape and shape[0] == 1 else shape
        raise CalibrationError(f"calibration data {where}: expected shape {shape} or "
                               f"{(-1,) + batch} (N samples) for input {t.name!r}, got {arr.shape}"
                               .replace("-1", "N", 1))
    if not np.all(np.isfinite(arr)):
        raise CalibrationError(f"calibration data {where} contains NaN or infinite values")
    return arr.astype(np.float32)


# ---- running a graph on TFLM with every activation observable ----


def observe_tensors(graph: Graph, samples: list[list[np.ndarray]]) -> Iterator[dict[int, np.ndarray]]:
    """Run `graph` on TFLite Micro sample by sample; yields id(tensor) -> values of every activation
    tensor (inputs included) for each sample, one at a time so memory does not grow with N."""
    from microc.export.tflite import export_tflite
    from tflite_micro.python.tflite_micro import runtime

    # Variable tensors (a stateful model's) stay state: TFLM carries them from sample to sample.
    observed = [t for t in graph.activations() if not t.variable and not any(t is i for i in graph.inputs)]
    outputs = list(graph.outputs) + [t for t in observed if not any(t is o for o in graph.outputs)]
    model = export_tflite(graph, extra_outputs=outputs)
    arena = 2 * sum(t.nbytes for t in graph.activations()) + (4 << 20)
    try:
        interp = runtime.Interpreter.from_bytes(model, arena_size=arena)
    except Exception as e:  # TFLM reports Prepare failures as RuntimeError with its log on stderr
        raise MicrocError(f"TensorFlow Lite Micro cannot run {graph.name}: {e}") from None
    for sample in samples:
        values = {}
        for i, (t, x) in enumerate(zip(graph.inputs, sample)):
            values[id(t)] = np.ascontiguousarray(x, dtype=t.dtype)
            interp.set_input(values[id(t)], i)
        interp.invoke()
        for i, t in enumerate(outputs):
            values[id(t)] = np.array(interp.get_output(i), copy=True)
        yield values


def calibrate(graph: Graph, samples: list[list[np.ndarray]], method: str = "minmax",
              percentile: float = 99.99) -> dict[int, tuple[float, float]]:
    """id(tensor) -> calibrated [lo, hi] of every activation of the float `graph` over `samples`."""
    if method not in METHODS:
        raise CalibrationError(f"unknown calibration method {method!r} (expected {' or '.join(METHODS)})")
    stats: dict[int, _Stats] = {}
    for values in observe_tensors(graph, samples):
        for k, v in values.items():
            stats.setdefault(k, _Stats(method, len(samples))).add(v)
    return {k: s.range(percentile) for k, s in stats.items()}


class _Stats:
    """Running extremes, and for percentiles the values themselves: all of them up to _KEEP per
    tensor, beyond that an even random share of each sample (a percentile estimate)."""

    _KEEP = 1 << 21

    def __init__(self, method: str, n_samples: int):
        self.method, self.per_sample = method, max(self._KEEP // max(n_samples, 1), 1024)
        self.lo, self.hi, self.kept = np.inf, -np.inf, []
        self.rng = np.random.default_rng(0)

    def add(self, v: np.ndarray) -> None:
        v = v.reshape(-1)
        self.lo, self.hi = min(self.lo, float(v.min())), max(self.hi, float(v.max()))
        if self.method == "percentile":
            self.kept.append(v if v.size <= self.per_sample else
                             self.rng.choice(v, self.per_sample, replace=False))

    def range(self, percentile: float) -> tuple[float, float]:
        if self.method == "minmax":
            return self.lo, self.hi
        return tensor_range(np.concatenate(self.kept), "percentile", percentile)


# ---- range estimation ----


def tensor_range(values: np.ndarray, method: str = "minmax", percentile: float = 99.99) -> tuple[float, float]:
    """The real range [lo, hi] a tensor is quantized to: its extremes (minmax), or the
    (100 - p)th and pth percentiles of its values over all samples, which ignores rare outliers."""
    v = np.asarray(values, np.float64).reshape(-1)
    if method == "minmax":
        return float(v.min()), float(v.max())
    if method == "percentile":
        lo, hi = np.percentile(v, [100.0 - percentile, percentile])
        return float(lo), float(hi)
    raise CalibrationError(f"unknown calibration method {method!r} (expected {' or '.join(METHODS)})")
