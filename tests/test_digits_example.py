"""The digits demo model (examples/digits): its data split, its reproducibility and the committed .onnx."""
import importlib.util
from pathlib import Path

import numpy as np
import onnx
import pytest
from sklearn.datasets import load_digits

DIGITS = Path(__file__).resolve().parent.parent / "examples" / "digits"
COMMITTED = DIGITS / "digits_cnn.onnx"
SUPPORTED_OPS = {"Conv", "Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Gemm",
                 "Softmax"}


def _load(name):
    spec = importlib.util.spec_from_file_location(f"digits_example_{name}", DIGITS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


data = _load("data")
train = _load("train")


def _rows(x):
    return sorted(row.tobytes() for row in x.reshape(len(x), -1))


def test_split_sizes_and_format():
    (xt, yt), (xh, yh) = data.train_set(), data.heldout_set()
    assert xt.shape == (1438, 1, 8, 8) and yt.shape == (1438,)
    assert xh.shape == (359, 1, 8, 8) and yh.shape == (359,)
    assert xt.dtype == xh.dtype == np.float32
    assert yt.dtype.kind == yh.dtype.kind == "i"
    assert xt.min() == 0.0 and xt.max() == 1.0
    assert set(yh.tolist()) == set(range(10))


def test_split_partitions_the_bundled_digits():
    (xt, _), (xh, _) = data.train_set(), data.heldout_set()
    digits = load_digits()
    assert _rows(np.concatenate([xt, xh])) == _rows(digits.images.astype(np.float32) / 16)


def test_calibration_comes_from_the_training_split():
    np.testing.assert_array_equal(data.calibration_set(50), data.train_set()[0][:50])
    assert data.calibration_set(1438).shape == (1438, 1, 8, 8)
    for bad in (0, 1439):
        with pytest.raises(ValueError, match="calibration_set"):
            data.calibration_set(bad)


def test_committed_model_format():
    model = onnx.load(str(COMMITTED))
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 13)]
    assert {n.op_type for n in model.graph.node} <= SUPPORTED_OPS
    (inp,), (out,) = model.graph.input, model.graph.output
    dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert (inp.name, dims(inp), out.name, dims(out)) == ("input", [1, 1, 8, 8], "logits", [1, 10])


def test_committed_model_matches_numpy_model_on_onnxruntime():
    model = onnx.load(str(COMMITTED))
    x, y = data.heldout_set()
    ours = train.predict_logits(train.params_from_onnx(model), x)
    theirs = train.onnxruntime_logits(COMMITTED.read_bytes(), x)
    np.testing.assert_array_equal(theirs.argmax(axis=1), ours.argmax(axis=1))
    assert np.abs(theirs - ours).max() <= 1e-4 * np.abs(ours).max()
    assert train.accuracy(theirs, y) >= 0.95


def test_training_reproduces_the_committed_model_byte_for_byte(tmp_path):
    # Training takes a few seconds, so the test reruns it rather than trusting saved weights.
    out = tmp_path / "digits_cnn.onnx"
    assert train.main(["--output", str(out)]) == 0
    assert out.read_bytes() == COMMITTED.read_bytes()
