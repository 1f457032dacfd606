"""Small ONNX test models written with onnx.helper, and onnxruntime as their reference."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from microc.verify import FLOAT_RTOL


class OnnxModel:
    """Collects nodes and initializers; save() writes a checked .onnx file."""

    def __init__(self, opset: int = 17, seed: int = 0):
        self.opset = opset
        self.nodes, self.inits, self.inputs, self.outputs = [], [], [], []
        self.rng = np.random.default_rng(seed)
        self._n = 0

    def input(self, name: str, shape, dtype=TensorProto.FLOAT) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, dtype, shape))
        return name

    def const(self, data, name: str | None = None) -> str:
        self._n += 1
        name = name or f"c{self._n}"
        self.inits.append(numpy_helper.from_array(np.asarray(data), name))
        return name

    def weight(self, *shape, scale: float = 0.5) -> str:
        return self.const((self.rng.standard_normal(shape) * scale).astype(np.float32))

    def node(self, op: str, inputs: list[str], n_out: int = 1, **attrs) -> str | list[str]:
        self._n += 1
        outs = [f"{op.lower()}{self._n}_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=f"{op}_{self._n}", **attrs))
        return outs[0] if n_out == 1 else outs

    def output(self, name: str) -> None:
        self.outputs.append(name)

    def save(self, path: Path) -> Path:
        """Write the model; the outputs' types and shapes come from ONNX shape inference."""
        graph = helper.make_graph(self.nodes, "g", self.inputs, [], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = 8
        inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(model).graph.value_info}
        model.graph.output.extend([inferred[n] for n in self.outputs])
        onnx.checker.check_model(model)
        onnx.save(model, path)
        return Path(path)


def run_ort(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: x for i, x in zip(sess.get_inputs(), inputs)}
    return sess.run(None, feeds)


def assert_close(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    """Every output within FLOAT_RTOL x the largest reference magnitude, with the same shape."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        w = np.asarray(w)
        assert g.shape == w.shape, (g.shape, w.shape)
        tol = FLOAT_RTOL * max(float(np.abs(w).max(initial=0.0)), 1e-30)
        err = float(np.abs(g.astype(np.float64) - w.astype(np.float64)).max(initial=0.0))
        assert err <= tol, f"max error {err:g} > tolerance {tol:g}"
