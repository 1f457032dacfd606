"""A verification run: open the project's device, stream every sample through it, compare the outputs
with the reference, and collect the cost (instructions per inference, per layer) into a report."""
from __future__ import annotations

import concurrent.futures
import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from microc.errors import DeviceError, MicrocError
from microc.pipeline import read_manifest, read_metadata
from microc.verify import Comparison, load_samples, make_samples, onnx_output_quanta


@dataclass
class SampleResult:
    index: int
    instructions: int | None
    ticks: int
    match: bool | None
    outputs: list[np.ndarray] = field(repr=False, default_factory=list)
    stack_bytes: int = 0  # the stack's high-water mark during the inference; 0: not measured


@dataclass
class RunReport:
    model: str
    board: str
    metadata: dict
    build: dict
    samples: list[SampleResult]
    comparison: Comparison | None
    layer_instructions: list[int | None] = field(default_factory=list)

    @property
    def match(self) -> bool | None:
        return None if self.comparison is None else self.comparison.match

    @property
    def stack_bytes(self) -> int | None:
        """The deepest stack any sample used (mc_stack.h), or None where the firmware cannot tell."""
        return max((s.stack_bytes for s in self.samples), default=0) or None

    @property
    def instructions(self) -> int | None:
        counts = [s.instructions for s in self.samples]
        return None if not counts or counts[0] is None else int(np.median(counts))

    def to_json(self) -> dict:
        c = self.comparison
        return {
            "model": self.model, "board": self.board, "match": self.match,
            "outputs_checked": c.outputs_checked if c else 0,
            "max_abs_diff": c.max_abs_diff if c else None,
            "within_one_quantum": c.quantum_share if c and c.quantized_checked else None,
            "arena_bytes": self.metadata["arena_bytes"],
            "lower_bound_bytes": self.metadata["lower_bound_bytes"],
            "weight_bytes": self.metadata["weight_bytes"],
            "flash_bytes": self.build.get("flash_bytes"), "ram_bytes": self.build.get("ram_bytes"),
            "stack_bytes": self.stack_bytes, "stack_reserve_bytes": self.metadata.get("stack_reserve_bytes"),
            "instructions": self.instructions, "samples": len(self.samples),
            "per_sample": [{"index": s.index, "match": s.match, "instructions": s.instructions}
                           for s in self.samples],
            "layers": [{"index": l["index"], "type": l["type"], "instructions": n}
                       for l, n in zip(self.metadata["layers"], self.layer_instructions)],
        }


def run_project(project: Path, input_file: str | None = None, samples: int = 10, seed: int = 0,
                verify: bool = False, port: str | None = None, timeout: float = 120.0) -> RunReport:
    from microc.boards import load_board
    from microc.build import BUILD_RESULT, read_build_result
    manifest, metadata = read_manifest(project), read_metadata(project)
    board = load_board(manifest["board"])
    # A board on a port may have been built and flashed by its platform's own tools, not microc build;
    # the device's model hash still proves it runs this project's model.
    no_build = port and not (Path(project) / BUILD_RESULT).is_file()
    build = {} if no_build else read_build_result(project)
    inputs = load_samples(input_file, metadata["inputs"]) if input_file else \
        make_samples(metadata["inputs"], samples, seed)
    # The reference (TFLM or onnxruntime) runs in a thread while the device runs: the host mostly waits.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        wanted = pool.submit(_reference, manifest["model"], metadata, inputs) if verify else None
        with open_device(board, project, build, port, timeout) as device:
            _check_identity(device.info(), metadata)
            results = [_run_sample(device, metadata, board, i, x) for i, x in enumerate(inputs)]
            layers = _layer_instructions(device, board)
            device.exit(0)
        comparison = _compare(manifest["model"], results, wanted.result()) if verify else None
    report = RunReport(manifest["model"], board.name, metadata, build, results, comparison, layers)
    if report.stack_bytes:
        _record_stack(project, report.stack_bytes)
    return report


def _record_stack(project: Path, stack_bytes: int) -> None:
    """metadata.json keeps the measured stack beside the reserve the project was built with."""
    path = Path(project) / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata["stack_bytes"] = stack_bytes
    path.write_text(json.dumps(metadata, indent=2) + "\n")


@contextlib.contextmanager
def open_device(board, project: Path, build: dict, port: str | None, timeout: float):
    """The device serving the runner protocol: a serial port, the host executable, simavr, or QEMU."""
    if port:
        from microc.runner.protocol import Device
        from microc.runner.transport import SerialTransport
        with Device(SerialTransport(port, baudrate=board.baudrate), timeout=timeout) as dev:
            yield dev
    elif board.family == "host":
        from microc.runner.host import HostDevice
        with HostDevice(Path(build["artifact"]), timeout=timeout) as dev:
            yield dev
    elif board.simavr:
        from microc.runner.simavr import simavr_device
        with simavr_device(board, Path(build["artifact"]), timeout) as dev:
            yield dev
    else:
        from microc.runner.qemu import qemu_device
        with qemu_device(board, Path(build["artifact"]), timeout=timeout) as dev:
            yield dev


def _check_identity(info: dict, metadata: dict) -> None:
    if info.get("model_hash") != metadata["model_hash"]:
        raise DeviceError(f"the device runs model {info.get('name')} ({str(info.get('model_hash'))[:12]}), "
                          f"not this project's ({metadata['model_hash'][:12]}): build and flash it first")


def _run_sample(device, metadata: dict, board, index: int, sample: list[np.ndarray]) -> SampleResult:
    for i, x in enumerate(sample):
        device.write_input(i, np.ascontiguousarray(x).tobytes())
    inv = device.invoke(stack=True)
    if inv.status != 0:
        raise DeviceError(f"the model's invoke returned status {inv.status} on sample {index}")
    outputs = [np.frombuffer(device.read_output(i, t["bytes"]), t["dtype"]).reshape(t["shape"])
               for i, t in enumerate(metadata["outputs"])]
    return SampleResult(index, board.to_instructions(inv.ticks), inv.ticks, None, outputs, inv.stack_bytes or 0)


def _layer_instructions(device, board) -> list[int | None]:
    """Per-layer counts from one more invocation on the last inputs (kept apart from the timed runs)."""
    inv = device.invoke(per_layer=True)
    return [board.to_instructions(t) for t in (inv.layer_ticks or ())]


def _reference(model: str, metadata: dict, inputs) -> list[list[np.ndarray]]:
    from microc.reference import reference_outputs
    return [reference_outputs(model, sample, len(metadata["outputs"])) for sample in inputs]


def _compare(model: str, results: list[SampleResult], wanted: list[list[np.ndarray]]) -> Comparison:
    # QDQ ONNX models: outputs in int8 quanta, which onnxruntime rounds differently from TFLite.
    comparison = Comparison(quanta=onnx_output_quanta(model) if Path(model).suffix == ".onnx" else None)
    for res, want in zip(results, wanted):
        res.match = comparison.add(res.outputs, want)
    if comparison.outputs_checked == 0:
        raise MicrocError("nothing was compared")
    return comparison
