"""Inputs for a verification run, and the comparison of device outputs with the reference."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from microc.errors import MicrocError

FLOAT_RTOL = 1e-4  # of the largest reference magnitude, per output tensor
QUANTUM_SHARE = 0.99  # of quantized ONNX outputs' elements that must be within one quantum
QUANTUM_SLACK = 1.001  # a one-quantum difference of dequantized float32 values, with float rounding


def make_samples(inputs: list[dict], n: int, seed: int) -> list[list[np.ndarray]]:
    """n random samples from a fixed seed; int8 and int16 models also get all-minimum and all-maximum.
    An input with a "value" (metadata.json: one valid value, e.g. TRANSPOSE_CONV's output shape) always
    gets it."""
    rng = np.random.default_rng(seed)
    samples = [[_random(rng, t) for t in inputs] for _ in range(n)]
    varying = [t for t in inputs if "value" not in t]
    if varying and all(t["dtype"] in ("int8", "int16") for t in varying):
        for end in ("min", "max"):
            samples.append([_fixed(t) if "value" in t else np.full(t["shape"], getattr(np.iinfo(t["dtype"]), end),
                                                                    t["dtype"]) for t in inputs])
    return samples


def _fixed(t: dict) -> np.ndarray:
    return np.asarray(t["value"], t["dtype"]).reshape(t["shape"])


def _random(rng: np.random.Generator, t: dict) -> np.ndarray:
    if "value" in t:
        return _fixed(t)
    if t["dtype"] == "float32":
        return rng.standard_normal(t["shape"]).astype(np.float32)
    info = np.iinfo(t["dtype"])
    return rng.integers(info.min, info.max, t["shape"], endpoint=True, dtype=t["dtype"])


def load_samples(path: str | Path, inputs: list[dict]) -> list[list[np.ndarray]]:
    """A .npy holding one sample (the input's shape) or many (a leading sample axis)."""
    if len(inputs) != 1:
        raise MicrocError("--input takes one .npy; this model has several inputs")
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise MicrocError(f"cannot read {path}: {e}") from None
    return as_samples(arr, inputs, Path(path).name)


def as_samples(data, inputs: list[dict], label: str = "inputs") -> list[list[np.ndarray]]:
    """Samples from an array (one input, or N along a leading axis; one-input models) or from a list of
    samples, each a list of arrays (one per input), checked against the model's inputs."""
    if isinstance(data, np.ndarray):
        if len(inputs) != 1:
            raise MicrocError(f"{label}: one array for a model with {len(inputs)} inputs; give a list "
                              "of samples, each a list of arrays")
        shape = tuple(inputs[0]["shape"])
        if data.shape[1:] == shape and data.shape != shape:
            return as_samples([[a] for a in data], inputs, label)
        return as_samples([[data]], inputs, label)
    samples = [list(s) for s in data]
    for s in samples:
        if len(s) != len(inputs):
            raise MicrocError(f"{label}: a sample of {len(s)} arrays for a model with {len(inputs)} inputs")
        for x, t in zip(s, inputs):
            x = np.asarray(x)
            if x.dtype != np.dtype(t["dtype"]):
                raise MicrocError(f"{label}: dtype {x.dtype}, the model's input is {t['dtype']}")
            if x.shape != tuple(t["shape"]):
                raise MicrocError(f"{label}: shape {x.shape} fits neither {tuple(t['shape'])} nor "
                                  f"(N, *{tuple(t['shape'])})")
    return [[np.asarray(x) for x in s] for s in samples]


@dataclass
class Comparison:
    """Device outputs against the reference, sample by sample. Exact for integer outputs, within
    FLOAT_RTOL for float32 ones, unless `quanta` gives an output a quantum: then the verdict is that at
    least QUANTUM_SHARE of its elements, over the whole run, are within one quantum of the reference
    (QDQ ONNX models: onnxruntime's int8 arithmetic rounds differently from TFLite's)."""
    quanta: list[float | None] | None = None  # per output; None: exact or float tolerance
    outputs_checked: int = 0
    max_abs_diff: float = 0.0
    per_sample: list[bool] = field(default_factory=list)
    quantized_checked: int = 0
    within_quantum: int = 0
    _strict_ok: bool = field(default=True, init=False, repr=False)  # every exact/float check passed

    @property
    def match(self) -> bool:
        return self._strict_ok and self.quantum_share >= QUANTUM_SHARE

    @property
    def quantum_share(self) -> float:
        """The share of quantum-compared elements within one quantum (1.0 if there were none)."""
        return self.within_quantum / self.quantized_checked if self.quantized_checked else 1.0

    def add(self, got: list[np.ndarray], want: list[np.ndarray]) -> bool:
        """Add one sample; returns whether it agrees on its own."""
        ok = True
        for i, (g, w) in enumerate(zip(got, want)):
            diff = np.abs(g.astype(np.float64) - w.astype(np.float64))
            self.max_abs_diff = max(self.max_abs_diff, float(diff.max(initial=0.0)))
            self.outputs_checked += w.size
            quantum = self.quanta[i] if self.quanta else None
            if quantum is not None:
                within = int(np.count_nonzero(diff <= quantum * QUANTUM_SLACK))
                self.within_quantum += within
                self.quantized_checked += w.size
                ok &= within >= QUANTUM_SHARE * w.size
            elif w.dtype == np.float32:
                close = bool(np.all(diff <= FLOAT_RTOL * max(float(np.abs(w).max(initial=0.0)), 1e-30)))
                self._strict_ok &= close
                ok &= close
            else:
                equal = bool(np.array_equal(g, w))
                self._strict_ok &= equal
                ok &= equal
        self.per_sample.append(ok)
        return ok


_PASS_THROUGH = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity", "Dropout"}


def onnx_output_quanta(path: str | Path) -> list[float | None]:
    """Per output of an ONNX model, the quantum its values come in: 1 for an int8 output (the end of a
    QuantizeLinear), the scale of the per-tensor DequantizeLinear a float output comes from (through
    layout-only ops), else None (a float output, compared with the float tolerance)."""
    import onnx
    from onnx import numpy_helper
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # OSError, protobuf's DecodeError, ...
        why = (str(e).strip() or type(e).__name__).splitlines()[0]
        raise MicrocError(f"cannot read {Path(path).name}: {why}") from None
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    consts = {i.name: i for i in g.initializer}
    consts.update({n.output[0]: n.attribute[0].t for n in g.node
                   if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"})
    quanta: list[float | None] = []
    for out in g.output:
        if out.type.tensor_type.elem_type == onnx.TensorProto.INT8:
            quanta.append(1.0)
            continue
        node = producer.get(out.name)
        while node is not None and node.op_type in _PASS_THROUGH:
            node = producer.get(node.input[0])
        scale = None
        if node is not None and node.op_type == "DequantizeLinear" and node.input[1] in consts:
            data = numpy_helper.to_array(consts[node.input[1]])
            scale = float(data.reshape(-1)[0]) if data.size == 1 else None
        quanta.append(scale)
    return quanta
