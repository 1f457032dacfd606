"""The demo: the project's own digits CNN (digits_cnn.onnx, trained by train.py on scikit-learn's bundled
digits) quantized to int8 by microc, compiled into firmware for an emulated Cortex-M4F (QEMU mps2-an386),
run on every held-out digit, each output checked bit for bit against TensorFlow Lite Micro, and its accuracy
reported beside the float model's.

    python examples/digits/demo.py [--board mps2-an386] [--out microc-out/digits]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from rich.console import Console

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from data import calibration_set, heldout_set  # noqa: E402

from microc.build import build_project  # noqa: E402
from microc.errors import MicrocError  # noqa: E402
from microc.pipeline import compile_model  # noqa: E402
from microc.report import print_report  # noqa: E402
from microc.runner.session import run_project  # noqa: E402

MODEL = HERE / "digits_cnn.onnx"
CALIBRATION_SAMPLES = 200


def float_predictions(x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort
    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    return np.array([session.run(None, {"input": xi[None]})[0].argmax() for xi in x])


def quantize_inputs(x: np.ndarray, info: dict) -> np.ndarray:
    q = np.round(x / info["scale"]) + info["zero_point"]
    return np.clip(q, -128, 127).astype(np.int8).reshape(len(x), *info["shape"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--out", type=Path, default=Path("microc-out/digits"))
    args = ap.parse_args()
    console = Console()
    args.out.mkdir(parents=True, exist_ok=True)
    calibration = args.out / "calibration.npy"
    np.save(calibration, calibration_set(CALIBRATION_SAMPLES))
    project = args.out / f"digits-{args.board}"
    with console.status(f"quantizing and compiling {MODEL.name} for {args.board}") as status:
        res = compile_model(MODEL, args.board, project, name="digits", quantize="int8", calibration=calibration)
        status.update(f"building {project}")
        build_project(project)
        x, y = heldout_set()
        heldout = args.out / "heldout_int8.npy"
        np.save(heldout, quantize_inputs(x, res.metadata["inputs"][0]))
        status.update(f"running {len(y)} held-out digits on {args.board} and verifying against TFLite Micro")
        report = run_project(project, input_file=str(heldout), verify=True, timeout=60)
        status.update("float accuracy on onnxruntime")
        float_acc = float((float_predictions(x) == y).mean())
    device_pred = np.array([s.outputs[0].reshape(-1).argmax() for s in report.samples])
    device_acc = float((device_pred == y).mean())
    print_report(report, console)
    console.print(f"[bold]held-out digits:[/] {len(y)}   float accuracy (onnxruntime): {100 * float_acc:.2f}%   "
                  f"int8 accuracy on {args.board}: {100 * device_acc:.2f}%")
    return 0 if report.match else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MicrocError as e:
        print(f"demo: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
