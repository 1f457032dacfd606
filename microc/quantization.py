"""`microc quantize`: float model + calibration data -> int8 .tflite, with a report of what it cost.

Calibrate (microc/passes/calibration.py), quantize the IR (microc/passes/quantize.py), write it
(microc/export/tflite.py), then run the int8 model on TensorFlow Lite Micro over the same samples with
every tensor observable to measure each layer's SQNR against float and the outputs' agreement.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from microc.export.tflite import export_tflite
from microc.frontends import load_model
from microc.ir import Graph
from microc.passes.calibration import calibrate, load_calibration, observe_tensors
from microc.passes.quantize import check_quantizable, dequantize_values, quantize_graph, quantize_values


@dataclass
class LayerReport:
    name: str
    type: str
    sqnr_db: float


@dataclass
class OutputReport:
    name: str
    max_error: float  # max |int8 - float| / (float output's range over the set)
    top1: float | None  # argmax agreement over the set; None for a single-value output


@dataclass
class QuantizeResult:
    model: bytes
    graph: Graph
    samples: int
    method: str
    scheme: str = "int8"
    layers: list[LayerReport] = field(default_factory=list)
    outputs: list[OutputReport] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{self.scheme} quantization of {self.graph.name}: {self.samples} calibration samples, "
               f"ranges by {self.method}", f"{'layer':40} {'op':18} SQNR (dB)"]
        out += [f"{r.name[:40]:40} {r.type:18} {r.sqnr_db:8.1f}" for r in self.layers]
        for o in self.outputs:
            top1 = "" if o.top1 is None else f"top-1 agreement {o.top1:.1%}, "
            out.append(f"output {o.name}: {top1}max |error| {o.max_error:.2%} of the output range")
        return out


def quantize_model(model_path: str | Path, calibration: str | Path, method: str = "minmax",
                   percentile: float = 99.99, float_io: bool = False,
                   input_shapes: dict[str, tuple[int, ...]] | None = None,
                   scheme: str = "int8") -> QuantizeResult:
    """`scheme`: "int8" or "int16x8" (int16 activations, int8 weights, int64 biases)."""
    graph = load_model(model_path, input_shapes, for_quantization=True)
    check_quantizable(graph, scheme)
    samples = load_calibration(calibration, graph)
    ranges = calibrate(graph, samples, method, percentile)
    qgraph, mapping = quantize_graph(graph, ranges, float_io, scheme)
    model = export_tflite(qgraph, description=f"microc {scheme} ({method}) of {Path(model_path).name}")
    label = method if method == "minmax" else f"percentile {percentile}"
    result = QuantizeResult(model, qgraph, len(samples), label, scheme)
    _evaluate(result, graph, samples, mapping, float_io)
    return result


def _evaluate(result: QuantizeResult, graph: Graph, samples, mapping, float_io: bool) -> None:
    """Run the float and the int8 graph side by side over the samples; compare every op's output."""
    q_samples = samples if float_io else [  # the int8 inputs TFLite Micro's QUANTIZE would have made
        [quantize_values(x, mapping[id(t)].quant, mapping[id(t)].dtype) for x, t in zip(s, graph.inputs)]
        for s in samples]
    watched = [op.outputs[0] for op in graph.ops]
    signal, noise = np.zeros(len(watched)), np.zeros(len(watched))
    outputs: dict[int, tuple[list, list]] = {id(t): ([], []) for t in graph.outputs}
    for fv, qv in zip(observe_tensors(graph, samples), observe_tensors(result.graph, q_samples)):
        for i, t in enumerate(watched):
            ref, q = fv[id(t)].astype(np.float64), mapping[id(t)]
            err = dequantize_values(qv[id(q)], q.quant) - ref
            signal[i] += np.sum(ref ** 2)
            noise[i] += np.sum(err ** 2)
        for t in graph.outputs:
            q = mapping[id(t)]
            outputs[id(t)][0].append(fv[id(t)])
            outputs[id(t)][1].append(dequantize_values(qv[id(q)], q.quant))
    result.layers = [LayerReport(op.name, op.type, _db(s, n)) for op, s, n in zip(graph.ops, signal, noise)]
    for t in graph.outputs:
        ref, got = (np.stack(v) for v in outputs[id(t)])
        n = ref.shape[0]
        span = float(ref.max() - ref.min()) or 1.0
        top1 = None
        if ref[0].size > 1:  # scores or probabilities: does the int8 model pick the same class?
            top1 = float(np.mean(np.argmax(ref.reshape(n, -1), 1) == np.argmax(got.reshape(n, -1), 1)))
        result.outputs.append(OutputReport(t.name, float(np.abs(got - ref).max()) / span, top1))


def sqnr_db(ref: np.ndarray, got: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio of `got` against `ref` over all their elements."""
    ref, got = np.asarray(ref, np.float64), np.asarray(got, np.float64)
    return _db(float(np.sum(ref ** 2)), float(np.sum((ref - got) ** 2)))


def _db(signal: float, noise: float) -> float:
    if noise == 0:
        return math.inf
    return 10 * math.log10(signal / noise) if signal > 0 else -math.inf
