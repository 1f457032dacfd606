"""Classical models (ONNX-ML): trees, boosting, linear models from scikit-learn, LightGBM and XGBoost,
compiled with each TREE_ENSEMBLE strategy (code, compact, arrays, perfect, gemm) and run on the host on held-out dataset samples, against
onnxruntime: labels identical on every sample, scores within verify.FLOAT_RTOL; one model end to end
through `microc deploy --verify` on the emulated Cortex-M4; and bad input."""
import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import helper

import classical_models
import harness
from microc.codegen.generate import generate
from microc.codegen.ops.trees import STRATEGIES
from microc.errors import UnsupportedOperator
from microc.frontends import load_model
from microc.reference import reference_outputs
from microc.verify import Comparison

pytest.importorskip("skl2onnx")

MODELS = [("random_forest", "breast_cancer"), ("gradient_boosting", "breast_cancer"),
          ("lightgbm", "wine"), ("xgboost", "digits"), ("linear_svm", "breast_cancer"),
          ("linear_svm", "digits"), ("isolation_forest", "breast_cancer")]


def run_host(path, samples, workdir, strategy=None):
    graph = load_model(path)
    for op in graph.ops:
        if op.type == "TREE_ENSEMBLE":
            op.attrs["strategy"] = strategy
    model = generate(graph, "m")
    lib = harness.build_shared(model, workdir)
    return [harness.run_shared(lib, model, [x]) for x in samples]


def compare(path, samples, outputs) -> Comparison:
    c = Comparison()
    for x, got in zip(samples, outputs):
        want = reference_outputs(path, [x[None]], len(got))
        assert np.array_equal(got[0], want[0]), "labels differ"
        c.add(got, want)
    return c


@pytest.mark.parametrize("kind,data", MODELS, ids=[f"{k}-{d}" for k, d in MODELS])
def test_matches_onnxruntime_on_held_out_samples(kind, data, tmp_path):
    t = classical_models.train(kind, data, tmp_path, small=True)
    samples = t.x_test[:40]
    strategies = list(STRATEGIES) if kind != "linear_svm" else [None]
    results = {}
    for s in strategies:
        results[s] = run_host(t.onnx_path, samples, tmp_path / f"build-{s}", s)
        assert compare(t.onnx_path, samples, results[s]).match
    for s in strategies[1:]:  # the strategies add the same floats in the same order: identical outputs
        for a, b in zip(results["code"], results[s]):
            assert all(np.array_equal(x, y) for x, y in zip(a, b))
    # the labels are the model's own predictions too (no sample of these sets sits on a threshold)
    labels = np.array([r[0].reshape(-1)[0] for r in results[strategies[0]]])
    assert np.array_equal(labels, t.model.predict(samples))


def test_graph_of_a_random_forest(tmp_path):
    t = classical_models.train("random_forest", "breast_cancer", tmp_path, small=True)
    graph = load_model(t.onnx_path)
    # one column of leaf weights (binary, positive weights: label 1 if p > 0.5), the ZipMap is the array
    assert [op.type for op in graph.ops] == ["TREE_ENSEMBLE", "ML_CLASSIFY"]
    assert graph.ops[0].outputs[0].shape == (1, 1) and graph.ops[1].attrs["binary"] == "half"
    assert [(o.shape, o.dtype) for o in graph.outputs] == [((1,), "int64"), ((1, 2), "float32")]
    assert len(graph.ops[0].attrs["ensemble"].trees) == 5


def test_tree_strategy_is_a_tunable_schedule(tmp_path):
    """TREE_ENSEMBLE's strategies are its schedules (the tuner measures them), the heuristic's first; a
    schedule picks the C; two forests of one shape have different tuning signatures; --trees pins one."""
    from microc.codegen.generate import schedule_choices
    from microc.tuning.signature import signature
    t = classical_models.train("random_forest", "breast_cancer", tmp_path, small=True)
    graph = load_model(t.onnx_path)
    assert [c.strategy for c in schedule_choices(graph, ("dsp",))[0]] == ["code", "compact", "arrays", "perfect", "gemm"]
    arrays = generate(graph, "m", schedules={"TREE_ENSEMBLE": {"strategy": "arrays"}})
    code = generate(graph, "m")
    assert "mc_trees_f32_s16(" in "".join(arrays.files.values())
    assert "MC_TREES_CODE static void" in "".join(code.files.values())
    assert arrays.metadata["layers"][0]["schedule"]["strategy"] == "arrays"
    other = load_model(t.onnx_path)
    assert signature(graph.ops[0]) == signature(other.ops[0])
    other.ops[0].attrs["ensemble"].trees[0].threshold[0] += 1
    assert signature(graph.ops[0]) != signature(other.ops[0])
    graph.ops[0].attrs["strategy"] = "compact"
    assert [c.strategy for c in schedule_choices(graph, ("dsp",))[0]] == ["compact"]


def _ml_model(path, op_type, **attrs):
    node = helper.make_node(op_type, ["X"], ["Y"], domain="ai.onnx.ml", **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15),
                                                    helper.make_opsetid("ai.onnx.ml", 3)])
    onnx.save(model, path)
    return path


def test_isolation_forest_becomes_one_ensemble(tmp_path):
    """skl2onnx's IsolationForest: a TreeEnsembleRegressor per tree over a Gather, each leaf's path length
    computed with LabelEncoder/Log/..., then a Sum: folded per leaf and merged into one ensemble."""
    t = classical_models.train("isolation_forest", "breast_cancer", tmp_path, small=True)
    graph = load_model(t.onnx_path)
    assert [op.type for op in graph.ops][0] == "TREE_ENSEMBLE"
    assert {op.type for op in graph.ops[1:]} == {"ML_ELEMENTWISE"}
    assert len(graph.ops[0].attrs["ensemble"].trees) == 10
    assert [(o.name, o.dtype) for o in graph.outputs] == [("label", "int64"), ("scores", "float32")]


def test_unsupported_ml_operator_is_one_line_naming_it(tmp_path):
    path = _ml_model(tmp_path / "m.onnx", "Binarizer", threshold=0.5)
    with pytest.raises(UnsupportedOperator, match=r"unsupported ONNX-ML operator Binarizer .*supported: "):
        load_model(path)
    res = subprocess.run([sys.executable, "-m", "microc", "compile", str(path), "--board", "host",
                          "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1 and "Binarizer" in res.stderr
    assert not (tmp_path / "out").exists()


def test_unsupported_attribute_is_named(tmp_path):
    path = _ml_model(tmp_path / "m.onnx", "Normalizer", norm="L3")
    with pytest.raises(UnsupportedOperator, match="norm L3 is not supported"):
        load_model(path)


def test_deploy_verifies_on_the_emulated_cortex_m4(tmp_path):
    t = classical_models.train("gradient_boosting", "breast_cancer", tmp_path, small=True)
    np.save(tmp_path / "x.npy", t.x_test[:8, None, :])  # N samples of the input shape [1, F]
    out = tmp_path / "out"
    for cmd in (["deploy", str(t.onnx_path), "--board", "mps2-an386", "-o", str(out), "-n", "3"],
                ["run", str(out), "--input", str(tmp_path / "x.npy")]):  # random, then held-out inputs
        res = subprocess.run([sys.executable, "-m", "microc", *cmd, "--verify", "--json"],
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr
        report = json.loads(res.stdout)
        assert report["match"] is True and report["instructions"] > 0
    assert report["samples"] == 8


@pytest.mark.parametrize("fname", ["model.pkl", "model.bin"])
def test_pickles_are_refused_with_the_reason(fname, tmp_path):
    import pickle
    path = tmp_path / fname
    path.write_bytes(pickle.dumps({"not": "loaded"}, protocol=4))
    res = subprocess.run([sys.executable, "-m", "microc", "compile", str(path), "--board", "host",
                          "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "pickle" in res.stderr and "arbitrary code" in res.stderr and "skl2onnx" in res.stderr
    assert not (tmp_path / "out").exists()


def test_random_forest_on_the_simulated_arduino_mega(tmp_path):
    """50 trees of depth 10 as if/else code fit the Mega (8 KiB RAM); held-out samples through the runner
    protocol under simavr match onnxruntime. The node arrays do not fit its RAM: a one-line refusal."""
    from test_arduino import _needs_avr_tools
    _needs_avr_tools()
    t = classical_models.train("random_forest", "breast_cancer", tmp_path)
    np.save(tmp_path / "x.npy", t.x_test[:12, None, :])
    out = tmp_path / "mega"
    res = subprocess.run([sys.executable, "-m", "microc", "compile", str(t.onnx_path), "--board", "arduino-mega",
                          "--trees", "code", "-o", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    for cmd in (["build", str(out)], ["run", str(out), "--input", str(tmp_path / "x.npy"), "--verify", "--json"]):
        res = subprocess.run([sys.executable, "-m", "microc", *cmd], capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["match"] is True and report["samples"] == 12
    res = subprocess.run([sys.executable, "-m", "microc", "deploy", str(t.onnx_path), "--board", "arduino-mega",
                          "--trees", "arrays", "-o", str(tmp_path / "arrays")], capture_output=True, text=True)
    assert res.returncode != 0 and "arduino-mega has 8,192" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("kernel", ["rbf", "poly", "linear", "sigmoid", "one_class"])
def test_svm_regressor_kernels(kernel, tmp_path):
    """SVR with each kernel and OneClassSVM (SVMRegressor one_class, then Sign): OneClassSVM labels equal
    to onnxruntime's and scikit-learn's; scores within 1e-4 of the largest score magnitude of the set
    (onnxruntime sums the kernel terms through its GEMM, in another order)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR, OneClassSVM
    x_train, x_test, y_train, _ = classical_models.dataset("wine")
    model = make_pipeline(StandardScaler(), OneClassSVM(nu=0.1) if kernel == "one_class" else SVR(kernel=kernel))
    model.fit(x_train, y_train.astype(np.float32))
    path = tmp_path / "svm.onnx"
    path.write_bytes(convert_sklearn(model, initial_types=[("X", FloatTensorType([1, 13]))]).SerializeToString())
    got = run_host(path, x_test, tmp_path / "build")
    want = [reference_outputs(path, [x[None]], len(g)) for x, g in zip(x_test, got)]
    scores = [(g[-1].reshape(-1)[0], w[-1].reshape(-1)[0]) for g, w in zip(got, want)]
    scale = max(abs(w) for _, w in scores)
    assert max(abs(g - w) for g, w in scores) <= 1e-4 * scale
    if kernel == "one_class":
        labels = np.array([g[0].reshape(-1)[0] for g in got])
        assert np.array_equal(labels, [w[0].reshape(-1)[0] for w in want])
        assert np.array_equal(labels, model.predict(x_test))


NATIVE = [("xgboost", "breast_cancer"), ("xgboost", "digits"), ("lightgbm", "breast_cancer"), ("lightgbm", "wine")]


@pytest.mark.parametrize("kind,data", NATIVE, ids=[f"{k}-{d}" for k, d in NATIVE])
def test_native_format_against_the_library_predict(kind, data, tmp_path):
    """XGBoost's JSON and LightGBM's text model (save_model): labels equal to the library's predict on
    every held-out sample, probabilities within the float tolerance; the same through `microc run
    --verify` (whose reference for these files is the library itself)."""
    t = classical_models.train(kind, data, tmp_path)
    # (a model named "model" would clash with build/model/ in the host Makefile)
    path = tmp_path / ("xgb.json" if kind == "xgboost" else "lgbm.txt")
    (t.model if kind == "xgboost" else t.model.booster_).save_model(str(path))
    samples = t.x_test[:40]
    got = run_host(path, samples, tmp_path / "build")
    c = compare(path, samples, got)
    assert c.match and c.outputs_checked == 40 * (1 + len(t.model.classes_))
    assert np.array_equal([g[0][0] for g in got], t.model.predict(samples))
    np.save(tmp_path / "x.npy", samples[:5, None, :])
    out = tmp_path / "p"
    for cmd in (["compile", str(path), "--board", "host", "-o", str(out)], ["build", str(out)],
                ["run", str(out), "--input", str(tmp_path / "x.npy"), "--verify", "--json"]):
        res = subprocess.run([sys.executable, "-m", "microc", *cmd], capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["match"] is True


def test_a_json_that_is_not_xgboost_is_refused(tmp_path):
    path = tmp_path / "model.json"
    path.write_text('{"learner": {"objective": {"name": "rank:pairwise"}}}')
    with pytest.raises(Exception, match="not an XGBoost JSON model|not supported"):
        load_model(path)
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(Exception, match="unknown model format"):
        load_model(tmp_path / "other.json")


def _export(model, n_features, path):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    onx = convert_sklearn(model, initial_types=[("X", FloatTensorType([1, n_features]))],
                          target_opset={"": 15, "ai.onnx.ml": 3})
    path.write_bytes(onx.SerializeToString())
    return path


SVC_CASES = [("breast_cancer", "linear"), ("breast_cancer", "rbf"), ("wine", "poly")]


@pytest.mark.parametrize("data,kernel", SVC_CASES, ids=[f"{d}-{k}" for d, k in SVC_CASES])
def test_svm_classifier_kernels(data, kernel, tmp_path):
    """SVC (SVMClassifier, one-vs-one with votes): binary, and three classes with skl2onnx's one-vs-rest
    arithmetic after it (ArrayFeatureExtractor, Concat, ...): labels equal to onnxruntime's and
    scikit-learn's on every held-out sample, scores within the float tolerance."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    x_train, x_test, y_train, _ = classical_models.dataset(data)
    model = make_pipeline(StandardScaler(), SVC(kernel=kernel)).fit(x_train, y_train)
    path = _export(model, x_train.shape[1], tmp_path / "svc.onnx")
    graph = load_model(path)
    svc = next(op for op in graph.ops if op.type == "SVM_CLASSIFIER")
    assert svc.attrs["kernel"] == kernel.upper() and len(svc.attrs["vectors"]) == model[-1].support_vectors_.shape[0]
    samples = x_test[:30]
    got = run_host(path, samples, tmp_path / "build")
    assert compare(path, samples, got).match
    assert np.array_equal([g[0].reshape(-1)[0] for g in got], model.predict(samples))


def test_imputer_replaces_missing_features(tmp_path):
    """SimpleImputer (Imputer: NaN -> the training mean) before a scaler and a linear model: samples with
    missing features give onnxruntime's and scikit-learn's labels."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    x_train, x_test, y_train, _ = classical_models.dataset("wine")
    rng = np.random.default_rng(0)
    x_train, samples = x_train.copy(), x_test[:20].copy()
    x_train[rng.random(x_train.shape) < 0.1] = np.nan
    samples[rng.random(samples.shape) < 0.2] = np.nan
    model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_train, y_train)
    path = _export(model, 13, tmp_path / "imputer.onnx")
    assert load_model(path).ops[0].type == "IMPUTE"
    got = run_host(path, samples, tmp_path / "build")
    assert compare(path, samples, got).match
    assert np.array_equal([g[0].reshape(-1)[0] for g in got], model.predict(samples))


def test_svc_probabilities_are_refused_in_one_line(tmp_path):
    from sklearn.svm import SVC
    x_train, _, y_train, _ = classical_models.dataset("wine")
    path = _export(SVC(probability=True, random_state=0).fit(x_train, y_train), 13, tmp_path / "p.onnx")
    with pytest.raises(UnsupportedOperator, match=r"SVMClassifier .*prob_a, prob_b.* not supported"):
        load_model(path)


def test_a_binary_ensemble_weighting_both_classes_is_refused(tmp_path):
    """onnxruntime labels it by class 1's score alone (label 1 for leaves [0.8, 0.2] too); refused."""
    node = helper.make_node(
        "TreeEnsembleClassifier", ["X"], ["L", "P"], domain="ai.onnx.ml", classlabels_int64s=[0, 1],
        nodes_treeids=[0, 0, 0], nodes_nodeids=[0, 1, 2], nodes_featureids=[0, 0, 0], nodes_values=[0.5, 0, 0],
        nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"], nodes_truenodeids=[1, 0, 0], nodes_falsenodeids=[2, 0, 0],
        class_treeids=[0, 0, 0, 0], class_nodeids=[1, 1, 2, 2], class_ids=[0, 1, 0, 1],
        class_weights=[0.8, 0.2, 0.3, 0.7])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [1, 1])],
                              [helper.make_tensor_value_info("L", onnx.TensorProto.INT64, [1]),
                               helper.make_tensor_value_info("P", onnx.TensorProto.FLOAT, [1, 2])])
    path = tmp_path / "both.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                      helper.make_opsetid("ai.onnx.ml", 3)], ir_version=8), path)
    with pytest.raises(UnsupportedOperator, match=r"TreeEnsembleClassifier .*leaf weights for both classes"):
        load_model(path)
