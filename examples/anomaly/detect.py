#!/usr/bin/env python3
"""Anomaly detection on the emulated Cortex-M4: an IsolationForest trained with scikit-learn on normal
samples only, compiled by microc, run on the device over held-out data, scored against the truth.

Data: scikit-learn's bundled breast-cancer measurements (nothing is downloaded). The benign tumours are
the "normal" class: the forest sees only benign training samples; the held-out set mixes benign and
malignant ones, and a malignant sample flagged as an anomaly (label -1) is a correct detection.

    .venv/bin/python examples/anomaly/detect.py [--board mps2-an386] [--trees code|compact|arrays] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from microc.build import build_project  # noqa: E402
from microc.pipeline import compile_model  # noqa: E402
from microc.runner.session import run_project  # noqa: E402

BENIGN = 1  # load_breast_cancer's target: 0 malignant, 1 benign


def data(seed: int = 0):
    """Benign training samples; held-out samples of both classes with truth 1 (normal) or -1 (anomaly)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x.astype(np.float32), y, test_size=0.3,
                                                        random_state=seed, stratify=y)
    return x_train[y_train == BENIGN], x_test, np.where(y_test == BENIGN, 1, -1)


def train_and_export(x_train: np.ndarray, path: Path):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import IsolationForest
    forest = IsolationForest(n_estimators=50, max_samples=128, contamination=0.1, random_state=0).fit(x_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onx = convert_sklearn(forest, initial_types=[("X", FloatTensorType([1, x_train.shape[1]]))],
                              target_opset={"": 15, "ai.onnx.ml": 3})
    path.write_bytes(onx.SerializeToString())
    return forest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--trees", choices=["code", "compact", "arrays"], help="tree strategy (default: microc's heuristic)")
    ap.add_argument("--out", type=Path, help="keep the model and the project here")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        x_train, x_test, truth = data()
        forest = train_and_export(x_train, out / "isolation_forest.onnx")
        project = out / f"anomaly-{args.board}"
        compile_model(out / "isolation_forest.onnx", args.board, project, name="anomaly", tree_strategy=args.trees)
        build = build_project(project)
        np.save(out / "heldout.npy", x_test[:, None, :])
        report = run_project(project, input_file=str(out / "heldout.npy"), verify=True)
    device = np.array([int(s.outputs[0].reshape(-1)[0]) for s in report.samples])
    sklearn = forest.predict(x_test)
    figures = {
        "board": args.board, "held_out": len(truth), "anomalies": int(np.sum(truth == -1)),
        "sklearn_accuracy": float(np.mean(sklearn == truth)), "device_accuracy": float(np.mean(device == truth)),
        "labels_equal_to_sklearn": int(np.sum(device == sklearn)), "verified_against_onnxruntime": report.match,
        "instructions_per_inference": report.instructions, "flash_bytes": build.flash_bytes,
        "ram_bytes": build.ram_bytes}
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"held-out samples: {figures['held_out']} ({figures['anomalies']} anomalies: malignant)")
        print(f"accuracy on {args.board}: {figures['device_accuracy']:.1%}   scikit-learn: "
              f"{figures['sklearn_accuracy']:.1%}   same labels: {figures['labels_equal_to_sklearn']}/{len(truth)}")
        print(f"verified against onnxruntime: {'match' if report.match else 'MISMATCH'}")
        print(f"cost: {report.instructions:,} instructions per inference, flash {build.flash_bytes:,} B, "
              f"RAM {build.ram_bytes:,} B")
    return 0 if report.match and figures["labels_equal_to_sklearn"] == len(truth) else 1


if __name__ == "__main__":
    sys.exit(main())
