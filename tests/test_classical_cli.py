"""A classical model through the command line: the benchmark's SVMClassifier (StandardScaler + RBF SVC on
breast cancer, trained once for the module) deployed and verified on the emulated Cortex-M4, and taken
through `microc compile`, `build`, `run --verify` over held-out samples on the Arduino Mega (simavr; its
support vectors in flash) and on the host board; bad ONNX-ML attribute values and pickles refused in one
line. The full matrix (every benchmark model x host, QEMU, simavr): scripts/verify_classical.py."""
import json
import subprocess
import sys

import numpy as np
import pytest

import classical_models

pytest.importorskip("skl2onnx")


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    """The benchmark's rbf_svm_breast_cancer and 10 held-out samples as a .npy of inputs [1, 30]."""
    work = tmp_path_factory.mktemp("svc")
    t = classical_models.train("rbf_svm", "breast_cancer", work)
    np.save(work / "x.npy", t.x_test[:10, None, :])
    return t, work / "x.npy"


def microc(*args, timeout=600) -> dict:
    res = subprocess.run([sys.executable, "-m", "microc", *args], capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout) if "--json" in args else {}


def test_svm_classifier_deploys_verified_on_the_emulated_cortex_m4(svc, tmp_path):
    t, _ = svc
    report = microc("deploy", str(t.onnx_path), "--board", "mps2-an386", "-o", str(tmp_path / "m4"), "-n", "3",
                    "--verify", "--json")
    # the label and the two scores of each sample, compared with onnxruntime's; the SVC's kernel sums ran
    assert report["match"] is True and report["samples"] == 3 and report["outputs_checked"] == 9
    assert [layer["type"] for layer in report["layers"]] == ["SCALER", "SVM_CLASSIFIER"]
    n_sv = len(t.model[-1].support_vectors_)
    # constants: support vectors, their coefficients, rho, the classes' vector starts and labels, and
    # the scaler's offsets and scales
    assert report["weight_bytes"] == 4 * (n_sv * 30 + n_sv + 1 + 3) + 8 * 2 + 4 * 2 * 30
    # every kernel term (a load, a subtraction and a multiply-add at least) ran
    assert report["instructions"] > 3 * n_sv * 30


def test_svm_classifier_keeps_its_support_vectors_in_flash_on_the_arduino_mega(svc, tmp_path):
    """13 KB of support vectors and coefficients would not fit the Mega's 8 KB of RAM: they stay in flash
    (MC_FLASH, read through __memx pointers), and the held-out samples under simavr match onnxruntime."""
    from test_arduino import _needs_avr_tools
    _needs_avr_tools()
    t, x = svc
    out = tmp_path / "mega"
    microc("compile", str(t.onnx_path), "--board", "arduino-mega", "-o", str(out))
    microc("build", str(out))
    report = microc("run", str(out), "--input", str(x), "--verify", "--json", timeout=900)
    assert report["match"] is True and report["samples"] == 10
    assert report["weight_bytes"] > 8192 > report["ram_bytes"]


def test_compile_build_run_on_the_host(svc, tmp_path):
    t, x = svc
    out = tmp_path / "host"
    microc("compile", str(t.onnx_path), "--board", "host", "-o", str(out))
    assert (out / "metadata.json").exists() and not (out / "build").exists()
    microc("build", str(out))
    report = microc("run", str(out), "--input", str(x), "--verify", "--json")
    assert report["match"] is True and report["samples"] == 10 and report["outputs_checked"] == 30


# ---- bad input: a one-line error naming the operator and what is not supported ------------------------

def _tree_model(path, op_type, **overrides):
    """A one-tree TreeEnsembleClassifier/Regressor on 4 features with attributes replaced (None: left out)."""
    import onnx
    from onnx import TensorProto, helper
    attrs = dict(nodes_treeids=[0, 0, 0], nodes_nodeids=[0, 1, 2], nodes_featureids=[0, 0, 0],
                 nodes_values=[0.5, 0.0, 0.0], nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"],
                 nodes_truenodeids=[1, 0, 0], nodes_falsenodeids=[2, 0, 0])
    label = TensorProto.INT64
    if op_type == "TreeEnsembleClassifier":
        attrs.update(class_treeids=[0, 0], class_nodeids=[1, 2], class_ids=[0, 0], class_weights=[0.2, 0.8],
                     classlabels_int64s=[0, 1])
        if "classlabels_strings" in overrides:
            label = TensorProto.STRING
        outputs = [helper.make_tensor_value_info("label", label, [1]),
                   helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 2])]
    else:
        attrs.update(target_treeids=[0, 0], target_nodeids=[1, 2], target_ids=[0, 0], target_weights=[0.2, 0.8],
                     n_targets=1)
        outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])]
    attrs = {k: v for k, v in {**attrs, **overrides}.items() if v is not None}
    node = helper.make_node(op_type, ["X"], [o.name for o in outputs], domain="ai.onnx.ml", **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])], outputs)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15),
                                                      helper.make_opsetid("ai.onnx.ml", 3)]), path)
    return path


REFUSED = [
    ("TreeEnsembleRegressor", {"aggregate_function": "MIN"}, "aggregate_function MIN is not supported"),
    ("TreeEnsembleClassifier", {"nodes_modes": ["BRANCH_EQ", "LEAF", "LEAF"]}, "node mode BRANCH_EQ is not supported"),
    ("TreeEnsembleClassifier", {"post_transform": "PROBIT"}, "post_transform PROBIT is not supported"),
    ("TreeEnsembleClassifier", {"classlabels_int64s": None, "classlabels_strings": ["a", "b"]},
     "string class labels are not supported"),
]


@pytest.mark.parametrize("op_type,overrides,words", REFUSED, ids=[w.split(" is")[0] for *_, w in REFUSED])
def test_unsupported_attribute_values_are_one_line_naming_them(op_type, overrides, words, tmp_path):
    from microc.errors import UnsupportedOperator
    from microc.frontends import load_model
    path = _tree_model(tmp_path / "m.onnx", op_type, **overrides)
    with pytest.raises(UnsupportedOperator) as e:
        load_model(path)
    assert str(e.value).startswith(f"{op_type} (node 0, ") and words in str(e.value) and "\n" not in str(e.value)


def test_a_scaler_with_offsets_for_other_features_is_named(tmp_path):
    """(it was a numpy broadcasting error reported as a malformed file)"""
    from microc.errors import UnsupportedOperator
    from microc.frontends import load_model
    from test_classical import _ml_model
    path = _ml_model(tmp_path / "s.onnx", "Scaler", offset=[1.0, 2.0, 3.0], scale=[1.0])
    with pytest.raises(UnsupportedOperator, match=r"^Scaler \(node 0, 'Y'\): 3 offset values for 4 features"):
        load_model(path)


def test_deploy_refuses_a_joblib_file_in_one_line(tmp_path):
    """deploy too (not only compile) refuses a pickle by its name, with the reason, writing nothing."""
    import pickle
    path = tmp_path / "forest.joblib"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    res = subprocess.run([sys.executable, "-m", "microc", "deploy", str(path), "--board", "host",
                          "-o", str(tmp_path / "out"), "--verify"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "pickle" in res.stderr and "arbitrary code" in res.stderr and "skl2onnx" in res.stderr
    assert not (tmp_path / "out").exists()
