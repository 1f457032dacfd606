"""Tree ensembles over integer features (docs/classical.md, "Integer features"): integer thresholds,
decisions identical to onnxruntime's on every integer input, each strategy (code, compact, arrays,
perfect, gemm) on the host under ASan/UBSan; Hummingbird's perfect and GEMM forms once each on the
emulated Cortex-M4."""
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
from microc.codegen.ops import trees
from microc.frontends import load_model
from microc.frontends.onnx_ml_trees import integer_threshold
from microc.pipeline import read_metadata
from microc.reference import reference_outputs

pytest.importorskip("skl2onnx")
STRATEGIES = list(trees.STRATEGIES)


def _regressor(path, dtype: str, values: list[float], modes: list[str], cast: bool):
    """Two features, two trees of three branches each (node k: values[k], modes[k]); every leaf has its
    own weight, so the scores name the leaves reached."""
    nodes = dict(nodes_treeids=[], nodes_nodeids=[], nodes_featureids=[], nodes_modes=[], nodes_values=[],
                 nodes_truenodeids=[], nodes_falsenodeids=[], target_treeids=[], target_nodeids=[],
                 target_ids=[], target_weights=[])
    for tree in range(2):
        shape = [(0, 1, 2), (1, 3, 4), (2, 5, 6)]  # (node id, true child, false child); feature: id % 2
        for k, (nid, yes, no) in enumerate(shape):
            i = 3 * tree + k
            for key, v in zip(("treeids", "nodeids", "featureids", "modes", "values", "truenodeids",
                               "falsenodeids"), (tree, nid, k % 2, modes[i], values[i], yes, no)):
                nodes[f"nodes_{key}"].append(v)
        for leaf in range(3, 7):
            for key, v in zip(("treeids", "nodeids", "featureids", "modes", "values", "truenodeids",
                               "falsenodeids"), (tree, leaf, 0, "LEAF", 0.0, 0, 0)):
                nodes[f"nodes_{key}"].append(v)
            nodes["target_treeids"].append(tree)
            nodes["target_nodeids"].append(leaf)
            nodes["target_ids"].append(0)
            nodes["target_weights"].append(float(leaf * 10 ** tree))
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    reg = helper.make_node("TreeEnsembleRegressor", ["xf" if cast else "x"], ["y"], domain="ai.onnx.ml",
                           n_targets=1, **nodes)
    pre = [helper.make_node("Cast", ["x"], ["xf"], to=onnx.TensorProto.FLOAT)] if cast else []
    graph = helper.make_graph(pre + [reg], "g", [helper.make_tensor_value_info("x", elem, [1, 2])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 1])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15),
                                                      helper.make_opsetid("ai.onnx.ml", 3)]), path)
    return path


def _check(path, samples, tmp_path, strategies=STRATEGIES):
    want = [reference_outputs(path, [x], 1)[0] for x in samples]
    outputs = {}
    assert generate(load_model(path), "m").metadata["inputs"][0]["dtype"] == samples[0].dtype.name
    for s in strategies:
        outputs[s] = harness.compile_and_run_sanitized(path, [[x] for x in samples], tmp_path / s,
                                                       schedules={"TREE_ENSEMBLE": {"strategy": s}})
        assert all(np.array_equal(got[0], w) for got, w in zip(outputs[s], want)), s
    return outputs


def test_int8_features_every_value(tmp_path):
    """int8 features through a Cast: thresholds in the middle, at the ends and outside the type's range
    (those branches are decided at compile time); every int8 value of feature 0 against onnxruntime."""
    values = [0.5, -0.5, 127.0, -128.0, 126.99, 300.0, -128.5, 3.0, -7.25]
    modes = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT",
             "BRANCH_LEQ", "BRANCH_GT", "BRANCH_LT"]
    path = _regressor(tmp_path / "i8.onnx", "int8", values, modes, cast=True)
    ens = load_model(path).ops[0].attrs["ensemble"]
    assert ens.features == "int8" and len(load_model(path).ops) == 1  # the Cast is folded into the trees
    assert sum(len(t.feature) for t in ens.trees) < 6  # 300 and -128.5 decide at compile time
    grid = [np.array([[a, b]], np.int8) for a in range(-128, 128) for b in (-128, -8, -7, 0, 3, 4, 127)]
    _check(path, grid, tmp_path)


def test_int32_features_round_as_onnxruntime(tmp_path):
    """int32 features cast to float, as onnxruntime's classifiers read int32 features: float(x) rounds above 2^24,
    so x <= 16777216.0 holds for 16777217 (rounds to 16777216) and not for 16777219."""
    assert integer_threshold(np.float32(16777216.0)) == 16777217
    assert integer_threshold(np.float32(-16777220.0)) == -16777219  # which rounds (to even) to -16777220
    values = [16777216.0, -16777220.0, 2.5e9, 0.5, -3e9, 1e8, -0.0, 2147483520.0, -2147483648.0]
    modes = ["BRANCH_LEQ"] * 4 + ["BRANCH_LT", "BRANCH_GT", "BRANCH_GTE", "BRANCH_LEQ", "BRANCH_LT"]
    path = _regressor(tmp_path / "i32.onnx", "int32", values, modes, cast=True)
    edges = [16777215, 16777216, 16777217, 16777218, 16777219, -16777216, -16777217, -16777218, -16777219, -16777220, -16777221,
             -1, 0, 1, 99999999, 100000000, 100000001, 100000004, 2 ** 31 - 1, -2 ** 31, 2147483520, 2147483583,
             2147483584]
    # the thresholds' two forms: immediates (code; compact is the same C) and int32 tables (arrays; perfect
    # and gemm read the same table the same way, tested on int8 above)
    _check(path, [np.array([[a, b]], np.int32) for a in edges for b in edges[::3]], tmp_path, ["code", "arrays"])


def test_forest_on_integer_digits(tmp_path):
    """A random forest on the digits (pixel values 0..16) with int8 features: labels identical to
    onnxruntime's and scikit-learn's, scores bit-identical across the strategies; integer thresholds."""
    t = classical_models.train("random_forest", "digits", tmp_path, small=True)
    path = classical_models.integer_input(t.onnx_path, "int8", tmp_path / "int8.onnx")
    samples = [x[None].astype(np.int8) for x in t.x_test[:30]]
    outputs = _check(path, samples, tmp_path)
    for s in STRATEGIES[1:]:
        assert all(np.array_equal(a[1], b[1]) for a, b in zip(outputs["code"], outputs[s]))
    labels = [o[0].reshape(-1)[0] for o in outputs["code"]]
    assert np.array_equal(labels, t.model.predict(t.x_test[:30]))
    graph = load_model(path)
    assert graph.ops[0].attrs["ensemble"].features == "int8"
    code = "".join(generate(graph, "m").files.values())
    assert "const int8_t *x" in code and "thresholds" not in code  # immediates, no threshold table


@pytest.mark.parametrize("strategy,features", [("perfect", "int8"), ("gemm", "float32")])
def test_hummingbird_strategies_on_the_emulated_cortex_m4(strategy, features, tmp_path):
    """One image each: `deploy --trees perfect|gemm --verify` (random inputs) matches onnxruntime."""
    t = classical_models.train("random_forest", "digits", tmp_path, small=True)
    path = t.onnx_path if features == "float32" else classical_models.integer_input(t.onnx_path, features,
                                                                                     tmp_path / "int.onnx")
    res = subprocess.run([sys.executable, "-m", "microc", "deploy", str(path), "--board", "mps2-an386",
                          "--trees", strategy, "-o", str(tmp_path / "out"), "--verify", "--json"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["match"] is True and report["instructions"] > 0
    meta = read_metadata(tmp_path / "out")
    assert meta["inputs"][0]["dtype"] == features and meta["layers"][0]["schedule"]["strategy"] == strategy


def test_every_tree_kernel_is_copied_into_a_project(tmp_path):
    """A project gets the runtime files defining the kernels its model calls (needed_sources): every
    tree kernel of mc_trees.h is found in mc_trees.c (a regressor calls no other function of it)."""
    import re
    from microc import RUNTIME_C
    from microc.project.render import needed_sources
    names = re.findall(r"\b(mc_trees_\w+)\(", (RUNTIME_C / "include" / "mc_trees.h").read_text())
    assert len(names) == 16
    for name in names:
        (tmp_path / "m.c").write_text(f"void f(void) {{ {name}(0, 0, 0); }}\n")
        assert [p.name for p in needed_sources([tmp_path / "m.c"])] == ["mc_trees.c"], name
