"""The onnx package's backend node tests, run through microc on the host (float path).

Every case of onnx.backend.test.case.node (the cases the package's data/node folder is generated from;
the wheel does not ship that folder) whose operators and dtypes microc supports is compiled to C, built
and run on each of its data sets (weights the tests pass as inputs frozen into the model first);
outputs must be within FLOAT_RTOL x the largest expected magnitude.
Cases needing other operators or dtypes, or that the importer or the kernels refuse, are skipped with
the reason. The counts are kept in docs/onnx.md.
"""
import warnings

import numpy as np
import onnx
import pytest

import harness
from microc.errors import UnsupportedOperator
from microc.frontends import load_model
from microc.frontends.onnx_ops import supported_onnx_ops
from onnx_builder import assert_close


def _collect():
    from onnx.backend.test.case import node
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some generators overflow on purpose
        return sorted(node.collect_testcases(None), key=lambda c: c.name)


CASES = _collect()

# Inputs microc compiles as constants (weights, biases, statistics, bounds, shapes); the node tests pass
# them as graph inputs, so they are frozen into initializers from the case's (single) data set.
CONST_INPUTS = {"Conv": (1, 2), "Gemm": (1, 2), "MatMul": (1,), "BatchNormalization": (1, 2, 3, 4),
                "Clip": (1, 2), "Pad": (1, 2, 3), "Reshape": (1,), "Squeeze": (1,), "Unsqueeze": (1,),
                "ReduceMean": (1,), "QuantizeLinear": (1, 2), "DequantizeLinear": (1, 2),
                "LSTM": (1, 2, 3, 5, 6, 7), "GRU": (1, 2, 3)}


def freeze_constant_inputs(case) -> tuple[onnx.ModelProto, list[list[np.ndarray]]]:
    """The case's model with its constant-position graph inputs made initializers, and the samples
    that remain."""
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    names = [i.name for i in model.graph.input]
    frozen = {n.input[k] for n in model.graph.node for k in CONST_INPUTS.get(n.op_type, ())
              if k < len(n.input) and n.input[k] in names}
    if frozen and len(case.data_sets) != 1:
        pytest.skip("weights passed as inputs with several data sets")
    inputs = [np.asarray(x) for x in case.data_sets[0][0]]
    for name in frozen:
        model.graph.initializer.append(onnx.numpy_helper.from_array(inputs[names.index(name)], name))
    keep = [i for i, n in enumerate(names) if n not in frozen]
    kept = [model.graph.input[i] for i in keep]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    samples = [[np.asarray(inputs[i]) for i in keep] for inputs, _ in case.data_sets]
    return model, samples


def skip_reason(model: onnx.ModelProto) -> str | None:
    """Why microc cannot run this case at all, or None."""
    missing = sorted({n.op_type for n in model.graph.node} - set(supported_onnx_ops()))
    if missing:
        return f"operators microc does not import: {', '.join(missing)}"
    for vi in [*model.graph.input, *model.graph.output]:
        t = vi.type
        if not t.HasField("tensor_type"):
            return f"'{vi.name}' is not a tensor"
        if t.tensor_type.elem_type != onnx.TensorProto.FLOAT:
            dtype = onnx.helper.tensor_dtype_to_np_dtype(t.tensor_type.elem_type)
            return f"'{vi.name}' is {dtype}; the float path runs float32"
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_node_case(case, tmp_path):
    reason = skip_reason(case.model)
    if reason:
        pytest.skip(reason)
    model, samples = freeze_constant_inputs(case)
    path = tmp_path / f"{case.name}.onnx"
    onnx.save(model, path)
    try:
        load_model(path)
    except UnsupportedOperator as e:
        pytest.skip(f"refused by the importer: {e}")
    try:
        got = harness.compile_and_run(path, samples, tmp_path / "build")
    except UnsupportedOperator as e:
        pytest.skip(f"refused by the kernels: {e}")
    for outs, (_, want) in zip(got, case.data_sets):
        assert_close(outs, [np.asarray(w) for w in want])
