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
from microc.pipeline import metadata_path, model_index, model_manifest, read_metadata
from microc.runner.counter import CounterInfo
from microc.verify import Comparison, as_samples, load_samples, make_samples, onnx_output_quanta


@dataclass
class SampleResult:
    index: int
    instructions: int | None
    ticks: int
    match: bool | None
    outputs: list[np.ndarray] = field(repr=False, default_factory=list)
    stack_bytes: int = 0  # the stack's high-water mark during the inference; 0: not measured
    cycles: int | None = None  # estimated (microc/cycles.py); only with the counting plugin


@dataclass
class LayerCost:
    instructions: int | None
    cycles: int | None = None
    ticks: int | None = None  # the board's timer (the host: ns), for boards without instruction counts
    classes: dict | None = field(default=None, repr=False)  # the plugin's count by instruction class


@dataclass
class RunReport:
    model: str
    board: str
    metadata: dict
    build: dict
    samples: list[SampleResult]
    comparison: Comparison | None
    layers: list[LayerCost] = field(default_factory=list)
    counter: CounterInfo = field(default_factory=lambda: CounterInfo("timer"))

    @property
    def match(self) -> bool | None:
        return None if self.comparison is None else self.comparison.match

    @property
    def stack_bytes(self) -> int | None:
        """The deepest stack any sample used (mc_stack.h), or None where the firmware cannot tell."""
        return max((s.stack_bytes for s in self.samples), default=0) or None

    @property
    def layer_instructions(self) -> list[int | None]:
        return [l.instructions for l in self.layers]

    @property
    def instructions(self) -> int | None:
        return _median([s.instructions for s in self.samples])

    @property
    def cycles(self) -> int | None:
        return _median([s.cycles for s in self.samples])

    @property
    def overhead(self) -> dict | None:
        """What an INVOKE executes outside its layers (the call, the per-layer timer readings and marks):
        the whole-inference count less the layers' sum, from the per-layer invocation."""
        if self.counter.kind != "plugin" or not self.layers or self.profiled is None:
            return None
        total = self.profiled
        return {"instructions": total.instructions - sum(l.instructions for l in self.layers),
                "cycles": total.cycles - sum(l.cycles for l in self.layers)}

    profiled: LayerCost | None = None  # the per-layer invocation's whole count
    first_mismatch: object = None  # microc.divergence.LayerMismatch, after a mismatch
    divergence_note: str | None = None  # why the layer-by-layer rerun found nothing, or could not run

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
            "instructions": self.instructions, "cycles": self.cycles, "counter": self.counter.kind,
            "counter_note": self.counter.note, "cpu": self.cpu, "overhead": self.overhead,
            # what the per-layer invocation executed, by class (docs/cycles.md), where the plugin counted
            "instruction_classes": self.profiled.classes if self.profiled else None,
            "samples": len(self.samples),
            "per_sample": [{"index": s.index, "match": s.match, "instructions": s.instructions,
                            "cycles": s.cycles} for s in self.samples],
            "layers": [{"index": l["index"], "type": l["type"], "instructions": c.instructions,
                        "cycles": c.cycles, "ticks": c.ticks, "schedule": l.get("schedule"),
                        "tuned": (l.get("tuned") or {}).get("source")}
                       for l, c in zip(self.metadata["layers"], self.layers)],
            "first_mismatch": self.first_mismatch.to_json() if self.first_mismatch else None,
            "first_mismatch_note": self.divergence_note,
        }

    @property
    def cpu(self) -> str | None:
        from microc.boards import load_board
        from microc.cycles import cpu_of
        return cpu_of(load_board(self.board))


def _median(values: list[int | None]) -> int | None:
    return None if not values or values[0] is None else int(np.median(values))


def run_project(project: Path, input_file: str | None = None, samples: int = 10, seed: int = 0,
                verify: bool = False, port: str | None = None, timeout: float = 120.0,
                inputs=None, model: int | str | None = None) -> RunReport:
    """`inputs`: arrays (microc.verify.as_samples) instead of a .npy `input_file` or random samples.
    `model`: which model of a project of several (index or name; the device is told with SELECT)."""
    from microc.boards import load_board
    from microc.build import BUILD_RESULT, read_build_result
    index = model_index(project, model)
    manifest, metadata = model_manifest(project, index), read_metadata(project, index)
    board = load_board(manifest["board"])
    # A board on a port may have been built and flashed by its platform's own tools, not microc build;
    # the device's model hash still proves it runs this project's model.
    no_build = port and not (Path(project) / BUILD_RESULT).is_file()
    build = {} if no_build else read_build_result(project)
    if inputs is not None:
        inputs = as_samples(inputs, metadata["inputs"])
    elif input_file:
        inputs = load_samples(input_file, metadata["inputs"])
    else:
        inputs = make_samples(metadata["inputs"], samples, seed)
    # The reference (TFLM or onnxruntime) runs in a thread while the device runs: the host mostly waits.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        wanted = pool.submit(_reference, project, manifest, metadata, inputs) if verify else None
        with open_device(board, project, build, port, timeout, index) as device:
            _check_identity(device.info(), metadata)
            cost = _Cost(board, getattr(device, "counter", None))
            if metadata.get("state_bytes"):  # the samples run in sequence from the initial state, as TFLM's
                device.reset()
            results = [_run_sample(device, metadata, cost, i, x) for i, x in enumerate(inputs)]
            profiled, layers = _layer_costs(device, cost)
            device.exit(0)
            counter = getattr(device, "counter_info", CounterInfo("timer"))
        comparison = _compare(manifest, results, wanted.result()) if verify else None
    report = RunReport(manifest["model"], board.name, metadata, build, results, comparison, layers, counter,
                       profiled)
    if report.stack_bytes:
        _record_stack(metadata_path(project, index), report.stack_bytes)
    if comparison is not None and not comparison.match and "chain" in manifest:
        report.divergence_note = "a pipeline is not rerun layer by layer: run its models (--model) on its own"
    elif comparison is not None and not comparison.match:
        failing = next((r.index for r in results if r.match is False), len(results) - 1)
        _find_first_mismatch(report, manifest, inputs[failing], (board, project, build, port, timeout, index),
                             inputs[:failing])
    return report


def _record_stack(path: Path, stack_bytes: int) -> None:
    """The model's metadata keeps the measured stack beside the reserve the project was built with."""
    metadata = json.loads(path.read_text())
    metadata["stack_bytes"] = stack_bytes
    path.write_text(json.dumps(metadata, indent=2) + "\n")


def _find_first_mismatch(report: RunReport, manifest: dict, sample, device_args, before) -> None:
    """Rerun a failing sample layer by layer (microc.divergence; a stateful model replays the samples
    `before` it first); a failure to do so is noted, not raised: the run's own results stand."""
    from microc.divergence import first_mismatch
    try:
        with open_device(*device_args) as device:
            report.first_mismatch = first_mismatch(device, manifest, report.metadata, sample, before)
            device.exit(0)
    except MicrocError as e:
        report.divergence_note = f"the layer-by-layer rerun failed: {e}"
        return
    if report.first_mismatch is None:
        report.divergence_note = "rerun layer by layer, every layer's output equals TensorFlow Lite Micro's"


@contextlib.contextmanager
def open_device(board, project: Path, build: dict, port: str | None, timeout: float, index: int | None = None):
    """The device serving the runner protocol: a serial port, the host executable, simavr, or QEMU;
    addressing model `index` of a firmware of several (None: a firmware of one, sent no SELECT)."""
    with _open_device(board, project, build, port, timeout) as dev:
        if index is not None:
            dev.select(index)
        yield dev


@contextlib.contextmanager
def _open_device(board, project: Path, build: dict, port: str | None, timeout: float):
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


class _Cost:
    """Instructions and cycles of an INVOKE just answered: from the counting plugin's record where QEMU
    runs it, else instructions from the board's timer ticks (and no cycles)."""

    def __init__(self, board, counter):
        from microc.cycles import TimingModel
        self.board, self.counter = board, counter
        self.model = TimingModel.for_board(board) if counter else None

    def of(self, inv) -> tuple[LayerCost, list[LayerCost]]:
        if self.counter is None:
            return (LayerCost(self.board.to_instructions(inv.ticks), None, inv.ticks),
                    [LayerCost(self.board.to_instructions(t), None, t) for t in (inv.layer_ticks or ())])
        record = self.counter.next_record()
        if record is None:
            raise DeviceError("the counting plugin wrote no record for the INVOKE just answered")
        price = lambda c: LayerCost(c.instructions, self.model.cycles(c.by_class), classes=c.by_class)  # noqa: E731
        layers = [price(c) for c in record.layers]
        for layer, t in zip(layers, inv.layer_ticks or ()):
            layer.ticks = t
        return price(record.total), layers


def _run_sample(device, metadata: dict, cost: _Cost, index: int, sample: list[np.ndarray]) -> SampleResult:
    for i, x in enumerate(sample):
        device.write_input(i, np.ascontiguousarray(x).tobytes())
    inv = device.invoke(stack=True)
    total, _ = cost.of(inv)
    if inv.status != 0:
        raise DeviceError(f"the model's invoke returned status {inv.status} on sample {index}")
    outputs = [np.frombuffer(device.read_output(i, t["bytes"]), t["dtype"]).reshape(t["shape"])
               for i, t in enumerate(metadata["outputs"])]
    return SampleResult(index, total.instructions, inv.ticks, None, outputs, inv.stack_bytes or 0, total.cycles)


def _layer_costs(device, cost: _Cost) -> tuple[LayerCost, list[LayerCost]]:
    """Per-layer costs from one more invocation on the last inputs (kept apart from the timed runs)."""
    return cost.of(device.invoke(per_layer=True))


def _reference(project: Path, manifest: dict, metadata: dict, inputs) -> list[list[np.ndarray]]:
    from microc.reference import reference_chain, reference_sequence
    if "chain" in manifest:  # the pipeline of --stack-hop: its two models' references, chained the same way
        front, back = (model_manifest(project, i) for i in manifest["chain"]["models"])
        chain = metadata["chain"]
        return reference_chain(front["model"], back["model"], chain["hop"], chain["frames"],
                               read_metadata(project, manifest["chain"]["models"][0])["inputs"][0]["shape"],
                               read_metadata(project, manifest["chain"]["models"][1])["inputs"][0]["shape"],
                               inputs, len(metadata["outputs"]))
    return reference_sequence(manifest["model"], inputs, len(metadata["outputs"]))


def _compare(manifest: dict, results: list[SampleResult], wanted: list[list[np.ndarray]]) -> Comparison:
    # QDQ ONNX models: outputs in int8 quanta, which onnxruntime rounds differently from TFLite.
    model = manifest["model"]
    onnx = "chain" not in manifest and Path(model).suffix == ".onnx"
    comparison = Comparison(quanta=onnx_output_quanta(model) if onnx else None)
    for res, want in zip(results, wanted):
        res.match = comparison.add(res.outputs, want)
    if comparison.outputs_checked == 0:
        raise MicrocError("nothing was compared")
    return comparison
