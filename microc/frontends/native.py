"""Model files microc recognizes but does not read as such: pickles (scikit-learn's joblib/pickle
dumps, XGBoost/LightGBM models pickled) are refused with the reason and the safe way instead."""
from __future__ import annotations

from pathlib import Path

from microc.errors import ModelFormatError

PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".sav", ".pck"}


def is_pickle(path: Path) -> bool:
    """A pickle by name, or by its first bytes (protocol 2 and later start with 0x80 and the version)."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    with open(path, "rb") as f:
        head = f.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def refuse_pickle(path: Path) -> ModelFormatError:
    return ModelFormatError(
        f"{path.name} is a Python pickle: loading one runs arbitrary code, so microc never does; "
        "export the model to ONNX instead (skl2onnx for scikit-learn, onnxmltools for XGBoost and LightGBM)")


# ---- XGBoost's JSON model (Booster.save_model("model.json")) -------------------------------------------

XGB_OBJECTIVES = ("binary:logistic", "multi:softprob", "multi:softmax", "reg:squarederror")


def is_xgboost_json(path: Path) -> bool:
    if path.suffix.lower() != ".json":
        return False
    with open(path, "rb") as f:
        head = f.read(4096)
    return b'"learner"' in head or b'"gradient_booster"' in head


def _floats(text: str) -> list[float]:
    """XGBoost 2+ writes base_score as '[6.27E-1]' (a vector for multi-class), older ones as '0.5'."""
    return [float(v) for v in str(text).strip("[]").split(",") if v.strip()]


def load_xgboost_json(path: Path):
    """An XGBoost JSON model as the IR: TREE_ENSEMBLE (a tree's `x < split` becomes x <= the float32
    below it) and, for classifiers, ML_CLASSIFY: binary:logistic gives [1 - p, p] with p = logistic of the
    margin, multi:softprob the softmax of the per-class margins, as XGBoost's predict does."""
    import json

    import numpy as np

    from microc.frontends.onnx_ml_trees import Ensemble
    try:
        learner = json.loads(path.read_text())["learner"]
        params = learner["learner_model_param"]
        objective = learner["objective"]["name"]
        model = learner["gradient_booster"]["model"]
        trees, tree_info = model["trees"], model["tree_info"]
    except (ValueError, KeyError, TypeError) as e:
        raise ModelFormatError(f"{path.name} is not an XGBoost JSON model ({type(e).__name__}: {e})") from None
    if objective not in XGB_OBJECTIVES:
        raise ModelFormatError(f"{path.name}: XGBoost objective {objective} is not supported "
                               f"(supported: {', '.join(XGB_OBJECTIVES)})")
    n_features, n_class = int(params["num_feature"]), int(params.get("num_class", "0"))
    n_out = max(n_class, 1)
    base = np.asarray(_floats(params["base_score"]), np.float64)
    if objective == "binary:logistic":  # base_score is a probability; the margin starts at its logit
        base = np.log(base / (1.0 - base))
    ens = Ensemble([_xgb_tree(t, n_out, int(c), n_features, path) for t, c in zip(trees, tree_info)],
                   n_out, n_features, np.broadcast_to(base, (n_out,)).astype(np.float32), False)
    kind = "regression" if objective.startswith("reg:") else ("binary" if objective == "binary:logistic" else "multiclass")
    return boosted_graph(path.stem, ens, kind)


def boosted_graph(name: str, ens, kind: str):
    """X -> TREE_ENSEMBLE (the margins) and, for a classifier, ML_CLASSIFY: "binary" gives [1 - p, p]
    with p the logistic of the margin and label 1 if it is positive, "multiclass" the softmax of the
    per-class margins and the label of the largest; "regression" outputs the margin."""
    import numpy as np

    from microc.ir import Graph, Op, Tensor
    x = Tensor("X", (1, ens.n_features), "float32")
    raw = Tensor("margin", (1, ens.n_targets), "float32")
    ops = [Op("TREE_ENSEMBLE", [x], [raw], {"ensemble": ens}, name="trees", index=0)]
    if kind == "regression":
        return Graph(name, ops, [x], [raw])
    n_labels = 2 if kind == "binary" else ens.n_targets
    label, probs = Tensor("label", (1,), "int64"), Tensor("probabilities", (1, n_labels), "float32")
    ops.append(Op("ML_CLASSIFY", [raw], [label, probs], {
        "labels": np.arange(n_labels, dtype=np.int64), "transform": "LOGISTIC" if kind == "binary" else "SOFTMAX",
        "binary": "sign" if kind == "binary" else None}, name="classify", index=1))
    return Graph(name, ops, [x], [label, probs])


def _xgb_tree(t: dict, n_out: int, cls: int, n_features: int, path: Path):
    import numpy as np

    from microc.frontends.onnx_ml_trees import Tree, below
    left, right = t["left_children"], t["right_children"]
    feature, threshold, lefts, rights, leaves = [], [], [], [], []
    if any(t.get("split_type", [])):
        raise ModelFormatError(f"{path.name}: categorical splits are not supported")

    def visit(i: int) -> int:
        if left[i] == -1:
            row = np.zeros(n_out, np.float32)
            row[cls] = t["split_conditions"][i]
            leaves.append(row)
            return ~(len(leaves) - 1)
        if not 0 <= t["split_indices"][i] < n_features:
            raise ModelFormatError(f"{path.name}: a split reads feature {t['split_indices'][i]} of {n_features}")
        k = len(feature)
        feature.append(t["split_indices"][i])
        threshold.append(below(t["split_conditions"][i]))  # XGBoost: x < split goes left (yes)
        lefts.append(0)
        rights.append(0)
        lefts[k], rights[k] = visit(left[i]), visit(right[i])
        return k

    visit(0)
    return Tree(np.array(feature, np.int32), np.array(threshold, np.float32), np.array(lefts, np.int32),
                np.array(rights, np.int32), np.array(leaves, np.float32).reshape(len(leaves), n_out))


def xgboost_reference(path: Path, inputs: list) -> list:
    """XGBoost's own predict on one sample: [label, probabilities] (classifiers) or [prediction]."""
    import json

    import numpy as np
    import xgboost
    booster = xgboost.Booster(model_file=str(path))
    objective = json.loads(path.read_text())["learner"]["objective"]["name"]
    p = np.asarray(booster.predict(xgboost.DMatrix(np.asarray(inputs[0], np.float32).reshape(1, -1))),
                   np.float32).reshape(-1)
    if objective.startswith("reg:"):
        return [p.reshape(1, 1)]
    probs = np.array([1.0 - p[0], p[0]], np.float32) if objective == "binary:logistic" else p
    return [np.array([int(np.argmax(probs))], np.int64), probs.reshape(1, -1)]


# ---- LightGBM's text model (Booster.save_model("model.txt")) --------------------------------------------

def is_lightgbm_text(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(64)
    return head.startswith(b"tree\nversion=")


def load_lightgbm_text(path: Path):
    """A LightGBM text model as the IR: numerical splits `x <= threshold` (a double: the largest float32
    not above it), one tree per class and iteration; objectives binary (sigmoid:k), multiclass
    (softmax), regression."""
    import numpy as np

    from microc.frontends.onnx_ml_trees import Ensemble
    header, trees = _lgb_sections(path)
    objective = header.get("objective", "").split()
    kind = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}.get(
        objective[0] if objective else "")
    if kind is None or "average_output" in header:
        raise ModelFormatError(f"{path.name}: LightGBM objective '{header.get('objective')}'"
                               f"{' with average_output' if 'average_output' in header else ''} is not supported "
                               "(supported: binary, multiclass, regression)")
    sigmoid = float(next((o.split(":")[1] for o in objective if o.startswith("sigmoid:")), 1.0))
    n_class, n_features = int(header.get("num_class", 1)), int(header["max_feature_idx"]) + 1
    per_iter = int(header.get("num_tree_per_iteration", 1))
    ens = Ensemble([_lgb_tree(t, n_class, i % per_iter, n_features, sigmoid, path) for i, t in enumerate(trees)],
                   n_class, n_features, np.zeros(n_class, np.float32), False)
    return boosted_graph(path.stem, ens, kind)


def _lgb_sections(path: Path) -> tuple[dict, list[dict]]:
    header, trees, current = {}, [], None
    for line in path.read_text().splitlines():
        if line.startswith("Tree="):
            current = {}
            trees.append(current)
        elif line.startswith("end of trees"):
            break
        elif "=" in line:
            key, value = line.split("=", 1)
            (current if current is not None else header)[key] = value
    if not trees:
        raise ModelFormatError(f"{path.name} is not a LightGBM text model (no trees)")
    return header, trees


def _lgb_tree(t: dict, n_out: int, cls: int, n_features: int, sigmoid: float, path: Path):
    import numpy as np

    from microc.frontends.onnx_ml_trees import Tree, at_most
    values = np.array(t["leaf_value"].split(), np.float64) * sigmoid
    leaves = np.zeros((len(values), n_out), np.float32)
    leaves[:, cls] = values
    if int(t.get("num_leaves", 1)) == 1:
        return Tree(*(np.zeros(0, d) for d in (np.int32, np.float32, np.int32, np.int32)), leaves)
    decision = np.array(t["decision_type"].split(), np.int64)
    if np.any(decision & 1) or np.any((decision >> 2) & 3 == 1):
        raise ModelFormatError(f"{path.name}: categorical splits and zero-as-missing splits are not supported")
    feature = np.array(t["split_feature"].split(), np.int32)
    if np.any(feature >= n_features):
        raise ModelFormatError(f"{path.name}: a split reads a feature beyond {n_features}")
    threshold = np.array([at_most(float(v)) for v in t["threshold"].split()], np.float32)
    return Tree(feature, threshold, np.array(t["left_child"].split(), np.int32),
                np.array(t["right_child"].split(), np.int32), leaves)


def lightgbm_reference(path: Path, inputs: list) -> list:
    """LightGBM's own predict on one sample: [label, probabilities] (classifiers) or [prediction]."""
    import lightgbm
    import numpy as np
    booster = lightgbm.Booster(model_file=str(path))
    p = np.asarray(booster.predict(np.asarray(inputs[0], np.float64).reshape(1, -1)), np.float32).reshape(-1)
    objective = booster.dump_model()["objective"].split()[0]
    if objective == "regression":
        return [p.reshape(1, 1)]
    probs = np.array([1.0 - p[0], p[0]], np.float32) if objective == "binary" else p
    return [np.array([int(np.argmax(probs))], np.int64), probs.reshape(1, -1)]


def native_reference(path: Path, inputs: list) -> list:
    if is_xgboost_json(path):
        return xgboost_reference(path, inputs)
    if is_lightgbm_text(path):
        return lightgbm_reference(path, inputs)
    raise ModelFormatError(f"{path.name}: no reference for this model format")
