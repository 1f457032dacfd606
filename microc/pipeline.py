"""The compile step end to end: model file → IR → C → a project folder for a board.

The project folder is written whole or not at all: everything goes to a temporary sibling first and is
moved into place only when every step succeeded.
"""
from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from microc.codegen.generate import GeneratedModel, generate
from microc.errors import MicrocError
from microc.frontends import load_model

MANIFEST = "microc.json"
QUANTIZED_MODEL = "model/quantized.tflite"  # in the project folder, when compiled with --quantize


@dataclass
class CompileResult:
    out_dir: Path
    name: str
    board: str
    metadata: dict
    quantization: object = None  # microc.quantization.QuantizeResult when compiled with --quantize


def c_identifier(text: str) -> str:
    ident = re.sub(r"\W", "_", text).strip("_").lower() or "model"
    return ident if not ident[0].isdigit() else f"m_{ident}"


def compile_model(model_path: str | Path, board_name: str, out_dir: str | Path,
                  name: str | None = None, quantize: str | None = None,
                  calibration: str | Path | None = None, method: str = "minmax",
                  selftest: int = 0, input_shapes: dict[str, tuple[int, ...]] | None = None,
                  optimize: str = "balanced", stack_bytes: int | None = None,
                  tree_strategy: str | None = None, schedules: dict | None = None,
                  tuning: bool = True, tuning_db: str | Path | None = None) -> CompileResult:
    """With `quantize="int8"` the float model is first quantized with `calibration` data; the int8
    .tflite is kept as model/quantized.tflite and the manifest points at it (TFLM verifies that).
    With `selftest=N` the firmware embeds N inputs and TFLM's outputs, checks itself and prints PASS
    or FAIL instead of serving the runner protocol. `input_shapes` fixes an ONNX model's dynamic input
    dimensions ({"input": (1, 1, 8, 8)}). `optimize` (speed, balanced, memory): which in-place operators
    the planner may use (docs/memory.md); balanced takes memory's when the model would not fit otherwise.
    `stack_bytes`: the stack reserve instead of the board's (e.g. a measured stack plus a margin,
    microc.bench.stack_reserve). `tree_strategy` (code, compact, arrays): how tree ensembles are generated
    (docs/classical.md; default: a heuristic per model). `schedules` overrides layers'
    schedules (generate()). With `tuning`, layers take the best verified schedule of the tuning
    databases (the user's `tuning_db`, default microc.tuning.db.default_path(), then the shipped one;
    docs/tuning.md) unless `schedules` names them."""
    from microc.boards import load_board
    from microc.project import check_fits, render_project, write_selftest

    model_path = Path(model_path).resolve()
    board = load_board(board_name)
    if stack_bytes:
        board = replace(board, stack_bytes=stack_bytes)
    graph, quantized = _load(model_path, quantize, calibration, method, input_shapes)
    if tree_strategy is not None:
        from microc.codegen.ops.trees import set_strategy
        set_strategy(graph, tree_strategy)
    name = c_identifier(name or graph.name)
    model = _generate_fitting(graph, name, board, optimize, schedules, tuning,
                              Path(tuning_db) if tuning_db else None)
    model.metadata["stack_reserve_bytes"] = board.stack_bytes
    out_dir = Path(out_dir)
    with _atomic_dir(out_dir) as tmp:
        _write_model(tmp, model)
        if quantized is not None:
            (tmp / QUANTIZED_MODEL).write_bytes(quantized.model)
        if selftest:  # before rendering: a family may move the model's sources (Arduino's library)
            reference = tmp / QUANTIZED_MODEL if quantized is not None else model_path
            check_fits(model, board, write_selftest(tmp, reference, model.metadata, selftest))
        render_project(tmp, board, name, selftest)
        manifest = {"name": name, "board": board.name, "model": str(model_path),
                    "model_hash": graph.source_hash}
        if quantized is not None:
            manifest.update(model=str(out_dir.resolve() / QUANTIZED_MODEL), float_model=str(model_path),
                            quantization={"type": "int8", "method": quantized.method,
                                          "calibration_samples": quantized.samples})
        if selftest:
            manifest["selftest"] = selftest
        if input_shapes:  # to load the same graph again (the first divergent layer's reference)
            manifest["input_shapes"] = {k: list(v) for k, v in input_shapes.items()}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return CompileResult(out_dir, name, board.name, model.metadata, quantized)


def _generate_fitting(graph, name: str, board, optimize: str, schedules: dict | None, tuning: bool = False,
                      tuning_db: Path | None = None) -> GeneratedModel:
    from microc.codegen.schedule import isas_of
    from microc.tuning.apply import annotate, tuned_schedules
    isas = isas_of(board.features)
    tuned = tuned_schedules(graph, board, isas, tuning_db, schedules) if tuning else {}
    schedules = {**{step: s for step, (s, _) in tuned.items()}, **(schedules or {})}
    model = _generate(graph, name, optimize, isas, schedules, board)
    annotate(model.metadata, tuned, tuning_db, tuning)
    return model


def _generate(graph, name: str, optimize: str, isas, schedules: dict, board) -> GeneratedModel:
    from microc.errors import DoesNotFit
    from microc.project import check_fits
    model = generate(graph, name, optimize, isas, schedules)
    try:
        check_fits(model, board)
    except DoesNotFit as balanced_error:
        if optimize != "balanced":
            raise
        smaller = generate(graph, name, "memory", isas, schedules)  # more instructions; may fit
        try:
            check_fits(smaller, board)
        except DoesNotFit:
            raise balanced_error from None  # the figures of the mode the user asked for
        model = smaller
    return model


def _load(model_path: Path, quantize: str | None, calibration, method: str, input_shapes=None):
    """The graph to compile, and the QuantizeResult when it was quantized here."""
    if quantize is None:
        if calibration is not None:
            raise MicrocError("--calibration is only used with --quantize int8")
        return load_model(model_path, input_shapes), None
    from microc.quantization import quantize_model
    if quantize not in ("int8", "int16x8"):
        raise MicrocError(f"--quantize {quantize}: microc quantizes to int8 or int16x8 only")
    if calibration is None:
        raise MicrocError(f"--quantize {quantize} needs --calibration DATA (.npy, .npz or a folder of .npy)")
    result = quantize_model(model_path, calibration, method, input_shapes=input_shapes, scheme=quantize)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "quantized.tflite"
        path.write_bytes(result.model)
        graph = load_model(path)
    graph.name = result.graph.name
    return graph, result


def _write_model(root: Path, model: GeneratedModel) -> None:
    (root / "model").mkdir()
    for fname, text in model.files.items():
        (root / "model" / fname).write_text(text)
    (root / "metadata.json").write_text(json.dumps(model.metadata, indent=2) + "\n")


def read_manifest(project: str | Path) -> dict:
    path = Path(project) / MANIFEST
    if not path.is_file():
        raise MicrocError(f"{project} is not a microc project (no {MANIFEST}); create one with 'microc compile'")
    return json.loads(path.read_text())


def read_metadata(project: str | Path) -> dict:
    return json.loads((Path(project) / "metadata.json").read_text())


@contextlib.contextmanager
def _atomic_dir(out_dir: Path):
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MANIFEST).exists():
        raise MicrocError(f"{out_dir} exists and is not a microc project; refusing to overwrite it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
