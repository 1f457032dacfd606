"""Inputs for a verification run, and the comparison of device outputs with the reference."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from microc.errors import MicrocError

FLOAT_RTOL = 1e-4  # of the largest reference magnitude, per output tensor


def make_samples(inputs: list[dict], n: int, seed: int) -> list[list[np.ndarray]]:
    """n random samples from a fixed seed; integer models also get all-minimum and all-maximum."""
    rng = np.random.default_rng(seed)
    samples = [[_random(rng, t) for t in inputs] for _ in range(n)]
    if all(t["dtype"] == "int8" for t in inputs):
        samples.append([np.full(t["shape"], -128, np.int8) for t in inputs])
        samples.append([np.full(t["shape"], 127, np.int8) for t in inputs])
    return samples


def _random(rng: np.random.Generator, t: dict) -> np.ndarray:
    if t["dtype"] == "float32":
        return rng.standard_normal(t["shape"]).astype(np.float32)
    info = np.iinfo(t["dtype"])
    return rng.integers(info.min, info.max, t["shape"], endpoint=True, dtype=t["dtype"])


def load_samples(path: str | Path, inputs: list[dict]) -> list[list[np.ndarray]]:
    """A .npy holding one sample (the input's shape) or many (a leading sample axis)."""
    if len(inputs) != 1:
        raise MicrocError("--input takes one .npy; this model has several inputs")
    t = inputs[0]
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise MicrocError(f"cannot read {path}: {e}") from None
    shape = tuple(t["shape"])
    if arr.dtype != np.dtype(t["dtype"]):
        raise MicrocError(f"{Path(path).name}: dtype {arr.dtype}, the model's input is {t['dtype']}")
    if arr.shape == shape:
        return [[arr]]
    if arr.shape[1:] == shape:
        return [[a] for a in arr]
    raise MicrocError(f"{Path(path).name}: shape {arr.shape} fits neither {shape} nor (N, *{shape})")


@dataclass
class Comparison:
    match: bool = True
    outputs_checked: int = 0
    max_abs_diff: float = 0.0
    per_sample: list[bool] = field(default_factory=list)

    def add(self, got: list[np.ndarray], want: list[np.ndarray]) -> bool:
        ok = True
        for g, w in zip(got, want):
            diff = np.abs(g.astype(np.float64) - w.astype(np.float64))
            self.max_abs_diff = max(self.max_abs_diff, float(diff.max(initial=0.0)))
            self.outputs_checked += w.size
            if w.dtype == np.float32:
                ok &= bool(np.all(diff <= FLOAT_RTOL * max(float(np.abs(w).max(initial=0.0)), 1e-30)))
            else:
                ok &= bool(np.array_equal(g, w))
        self.per_sample.append(ok)
        self.match &= ok
        return ok
