"""The first divergent layer. When a run's outputs differ from the reference, the failing sample is run
again one layer at a time on the device (the runner's LAYER request: invoke() is untouched, so normal
inference costs the same), each layer's output is read back from the arena right after it ran, and
compared with TensorFlow Lite Micro's value of the same tensor: the project's IR written to .tflite with
every activation as a graph output (microc.passes.calibration.observe_tensors). The first layer whose
output differs is the one that went wrong; every layer before it agreed."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from microc.errors import MicrocError
from microc.verify import FLOAT_RTOL


@dataclass
class LayerMismatch:
    layer: int
    op: str
    tensor: str
    differing: int  # values outside the tolerance (integers: not equal)
    max_abs_diff: float
    first_index: int  # flat index (C order) of the first differing value

    def to_json(self) -> dict:
        return asdict(self)


def first_mismatch(device, manifest: dict, metadata: dict, sample: list[np.ndarray],
                   before: list[list[np.ndarray]] = ()) -> LayerMismatch | None:
    """Run `sample` on `device` (serving this project's firmware) layer by layer; the first layer whose
    output differs from TFLM's, or None when every layer agrees. A stateful model (docs/recurrent.md)
    first replays the samples `before` it from a RESET, on the device and on TFLM, so that both hold the
    state `sample` ran with."""
    from microc.passes.calibration import observe_tensors
    graph = _project_graph(manifest, metadata)
    parts = written_parts(graph)
    stateful = bool(metadata.get("state_bytes"))
    for reference in observe_tensors(graph, [*(before if stateful else []), sample]):
        pass  # the last sample's tensors, after the state of those before
    if stateful:
        device.reset()
        for earlier in before:
            _write(device, earlier)
            if device.invoke().status != 0:
                raise MicrocError("the model's invoke failed while replaying the samples before")
    _write(device, sample)
    for step, (op, row) in enumerate(zip(graph.ops, metadata["layers"])):
        outputs = _in_arena(op.outputs)
        if not outputs:  # it assigns resource variables only: it runs, nothing to read back
            device.run_layer(step, 0, 0)
        for k, (t, place) in enumerate(zip(outputs, _output_places(row))):
            raw = device.run_layer(step, place["offset"], place["bytes"], run=k == 0)  # the layer runs once
            part = parts.get(id(t), slice(None))
            got = np.frombuffer(raw, t.dtype)[part]
            mismatch = compare_tensor(got, reference[id(t)].reshape(-1)[part])
            if mismatch is not None:
                differing, largest, first = mismatch
                return LayerMismatch(step, op.type, t.name, differing, largest, first + (part.start or 0))
    return None


_SAME_ORDER = {"CAST", "RESHAPE", "SQUEEZE", "EXPAND_DIMS"}  # output value i comes from input value i


def written_parts(graph) -> dict[int, slice]:
    """id(tensor) -> the flat indices that hold written values, for the tensors that are written only in
    part: values an operator leaves unwritten (SignalEnergy outside its bins, as TFLM) are whatever was
    there before, on the device and in TFLM's arena alike, and stay so through a CAST or RESHAPE. Any
    other operator is taken to read only the written part: if it reads more, its output differs."""
    from microc.codegen.ops.signal import energy_bins
    parts: dict[int, slice] = {}
    for op in graph.ops:
        if op.type == "CUSTOM(SignalEnergy)":
            parts[id(op.outputs[0])] = slice(*energy_bins(op))
        elif op.type in _SAME_ORDER and id(op.inputs[0]) in parts:
            parts[id(op.outputs[0])] = parts[id(op.inputs[0])]
    return parts


def _write(device, sample: list[np.ndarray]) -> None:
    for i, x in enumerate(sample):
        device.write_input(i, np.ascontiguousarray(x).tobytes())


def compare_tensor(got: np.ndarray, want: np.ndarray) -> tuple[int, float, int] | None:
    """(differing values, largest |difference|, first differing flat index), or None when they agree:
    integers exactly, float32 within verify.FLOAT_RTOL of the tensor's largest reference magnitude."""
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64)).reshape(-1)
    if want.dtype == np.float32:
        bad = ~(diff <= FLOAT_RTOL * max(float(np.abs(want).max(initial=0.0)), 1e-30))  # NaN is bad
    else:
        bad = got.reshape(-1) != want.reshape(-1)
    if not bad.any():
        return None
    return int(np.count_nonzero(bad)), float(diff.max()), int(np.argmax(bad))


def _project_graph(manifest: dict, metadata: dict):
    """The IR the project was compiled from, loaded again and put in the order codegen ran it (the same
    frontend and the same deterministic pass give the same layers, checked by their output names)."""
    from microc.frontends import load_model
    from microc.passes.order import memory_order
    if metadata.get("planner", {}).get("patches"):  # its layers are bands of the model's (docs/memory.md)
        raise MicrocError("the project runs its first layers patch by patch (--optimize memory); compile it "
                          "with --optimize balanced to compare whole layers")
    model = Path(manifest["model"])  # a quantized project's is its int8 .tflite: shapes fixed
    shapes = {k: tuple(v) for k, v in manifest.get("input_shapes", {}).items()} if model.suffix == ".onnx" \
        else None
    graph = memory_order(load_model(model, shapes or None))
    names = [[t.name for t in _in_arena(op.outputs)] for op in graph.ops]
    if graph.source_hash != metadata["model_hash"] or \
            names != [[t["name"] for t in _output_places(l)] for l in metadata["layers"]]:
        raise MicrocError(f"{Path(manifest['model']).name} changed since the project was compiled")
    return graph


def _in_arena(outputs: list) -> list:
    """The outputs a layer writes in the arena, not the resource variables it assigns (docs/recurrent.md)."""
    return [t for t in outputs if not t.variable]


def _output_places(row: dict) -> list[dict]:
    if "output_tensors" not in row:
        raise MicrocError("the project predates per-layer read-back: compile it again")
    return row["output_tensors"]

