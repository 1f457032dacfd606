"""Classical models trained on scikit-learn's bundled datasets (nothing is downloaded) and exported to
ONNX-ML with skl2onnx / onnxmltools, one sample [1, F] per inference. Shared by tests/test_classical.py
(small sizes) and scripts/bench_classical.py (the benchmark's sizes)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATASETS = {"breast_cancer": "load_breast_cancer", "digits": "load_digits", "wine": "load_wine"}


@dataclass
class Trained:
    name: str
    model: object  # the fitted estimator
    x_train: np.ndarray
    x_test: np.ndarray  # float32 held-out samples
    y_test: np.ndarray
    onnx_path: Path


def dataset(name: str, seed: int = 0):
    import sklearn.datasets
    from sklearn.model_selection import train_test_split
    x, y = getattr(sklearn.datasets, DATASETS[name])(return_X_y=True)
    return train_test_split(x.astype(np.float32), y, test_size=0.25, random_state=seed, stratify=y)


def estimator(kind: str, small: bool):
    """The estimator of each benchmark model; `small` shrinks the ensembles for fast tests."""
    from sklearn.ensemble import GradientBoostingClassifier, IsolationForest, RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC
    trees = 5 if small else 50
    if kind == "random_forest":
        return RandomForestClassifier(trees, max_depth=4 if small else 10, random_state=0)
    if kind == "gradient_boosting":
        return GradientBoostingClassifier(n_estimators=10 if small else 100, random_state=0)
    if kind == "lightgbm":
        import lightgbm
        return lightgbm.LGBMClassifier(n_estimators=trees, num_leaves=15, verbose=-1, random_state=0)
    if kind == "xgboost":
        import xgboost
        return xgboost.XGBClassifier(n_estimators=trees, max_depth=4, random_state=0)
    if kind == "isolation_forest":
        return IsolationForest(n_estimators=trees * 2, random_state=0)
    if kind == "linear_svm":
        return make_pipeline(StandardScaler(), LinearSVC(random_state=0))
    if kind == "rbf_svm":  # an SVMClassifier (LinearSVC exports as a LinearClassifier)
        from sklearn.svm import SVC
        return make_pipeline(StandardScaler(), SVC(kernel="rbf"))
    raise ValueError(kind)


def export(model, n_features: int, path: Path) -> Path:
    """The fitted model as ONNX-ML with input X [1, F] float32 (the converters' default opsets)."""
    from skl2onnx.common.data_types import FloatTensorType
    types = [("X", FloatTensorType([1, n_features]))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if type(model).__module__.startswith("lightgbm"):
            from onnxmltools import convert_lightgbm
            from onnxmltools.convert.common.data_types import FloatTensorType as MlFloat
            onx = convert_lightgbm(model, initial_types=[("X", MlFloat([1, n_features]))], zipmap=False)
        elif type(model).__module__.startswith("xgboost"):
            from onnxmltools import convert_xgboost
            from onnxmltools.convert.common.data_types import FloatTensorType as MlFloat
            onx = convert_xgboost(model, initial_types=[("X", MlFloat([1, n_features]))])
        else:
            from skl2onnx import convert_sklearn
            from sklearn.svm import LinearSVC
            # explicit (empty) options: else skl2onnx 1.20 offers a pipeline's LinearSVC a zipmap option
            onx = convert_sklearn(model, initial_types=types, options={LinearSVC: {}},
                                  target_opset={"": 15, "ai.onnx.ml": 3})  # IsolationForest needs ml 3
    path.write_bytes(onx.SerializeToString())
    return path


def train(kind: str, data: str, out_dir: Path, small: bool = False) -> Trained:
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    x_train, x_test, y_train, y_test = dataset(data)
    model = estimator(kind, small)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x_train, y_train)
    path = export(model, x_train.shape[1], Path(out_dir) / f"{kind}_{data}.onnx")
    return Trained(f"{kind}_{data}", model, x_train, x_test, y_test, path)


def integer_input(onnx_path: Path, dtype: str, out: Path) -> Path:
    """The model with integer features: its float input X becomes `dtype` (int8, int16 or int32), cast
    to float by a Cast node in front (microc then compares the integers: docs/classical.md)."""
    import onnx
    from onnx import helper
    model = onnx.load(str(onnx_path))
    x = model.graph.input[0]
    for node in model.graph.node:
        node.input[:] = [f"{x.name}_float" if i == x.name else i for i in node.input]
    cast = helper.make_node("Cast", [x.name], [f"{x.name}_float"], to=onnx.TensorProto.FLOAT)
    model.graph.node.insert(0, cast)
    x.type.tensor_type.elem_type = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    onnx.save(model, str(out))
    return out
