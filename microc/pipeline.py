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
    microc.bench.stack_reserve). `tree_strategy` (code, compact, arrays, perfect, gemm): how tree ensembles are generated
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


SHARED_ARENA = "mc_shared_arena"  # the arena of a project of several models (model/mc_shared_arena.c)


def compile_models(model_paths, board_name: str, out_dir: str | Path, name: str | None = None,
                   optimize: str = "balanced", stack_bytes: int | None = None, tuning: bool = True,
                   tuning_db: str | Path | None = None, stack_hop: int | None = None) -> list[CompileResult]:
    """One project whose firmware holds several models (docs/boards.md, "Several models in one
    firmware"): each model's C is prefixed with its own name (from its file, made unique), they share one
    arena (they run one at a time; each model's state stays its own), and the runner addresses one by
    its index (SELECT, docs/protocol.md). `name` names the firmware (default: the models' names joined).
    With `stack_hop` (two models), the firmware also serves, as the last model, a pipeline
    (microc.codegen.chain): the first model over windows `stack_hop` elements apart, its outputs
    stacked into the second's input. Returns one CompileResult per model (and the pipeline), in order."""
    from types import SimpleNamespace

    from microc.boards import load_board
    from microc.project import check_fits, render_project
    paths = [Path(p).resolve() for p in model_paths]
    if len(paths) < 2:
        raise MicrocError("a project of several models needs at least two models")
    if len(paths) + (stack_hop is not None) > 255:
        raise MicrocError(f"{len(paths)} models: a firmware serves at most 255")
    board = load_board(board_name)
    if stack_bytes:
        board = replace(board, stack_bytes=stack_bytes)
    graphs = [load_model(p) for p in paths]
    names = unique_names([c_identifier(g.name) for g in graphs])
    firmware = c_identifier(name or "_".join(names))
    db = Path(tuning_db) if tuning_db else None
    models = [_generate_fitting(g, n, board, optimize, None, tuning, db, SHARED_ARENA)
              for g, n in zip(graphs, names)]
    arena = max(m.arena_array_bytes for m in models)
    chain = _chain(models, stack_hop, names) if stack_hop is not None else None
    own = chain.metadata["arena_bytes"] if chain else 0  # the pipeline's window and stacked outputs
    check_fits(SimpleNamespace(metadata=_combined_needs(models, arena + own)), board)
    entries = [{"name": m.name, "model": str(p), "model_hash": g.source_hash}
               for m, p, g in zip(models, paths, graphs)]
    if chain is not None:
        entries.append({"name": chain.name, "model": " -> ".join(e["model"] for e in entries),
                        "model_hash": chain.metadata["model_hash"], "chain": {"models": [0, 1], "hop": stack_hop}})
        models.append(chain)
    out_dir = Path(out_dir)
    with _atomic_dir(out_dir) as tmp:
        (tmp / "model").mkdir()
        for model, entry in zip(models, entries):
            model.metadata["stack_reserve_bytes"] = board.stack_bytes
            entry["metadata"] = f"model/{model.name}.json"
            for fname, text in model.files.items():
                (tmp / "model" / fname).write_text(text)
            (tmp / entry["metadata"]).write_text(json.dumps(model.metadata, indent=2) + "\n")
        (tmp / "model" / f"{SHARED_ARENA}.c").write_text(_shared_arena_source(names, arena))
        served = [m.name for m in models]
        render_project(tmp, board, firmware, models=served, arena_objects=[*served, SHARED_ARENA])
        manifest = {"name": firmware, "board": board.name, "models": entries, "shared_arena_bytes": arena}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return [CompileResult(out_dir, m.name, board.name, m.metadata) for m in models]


def _chain(models: list[GeneratedModel], hop: int, names: list[str]) -> GeneratedModel:
    """The pipeline model of --stack-hop, named `pipeline` (or `pipeline_2`, ... past the models' names)."""
    from microc.codegen.chain import generate_chain
    if len(models) != 2:
        raise MicrocError(f"--stack-hop chains two models, not {len(models)}")
    return generate_chain(unique_names([*names, "pipeline"])[-1], models[0], models[1], hop)


def unique_names(names: list[str]) -> list[str]:
    """C names for the models of one firmware: a name taken (or another's `<name>_weights`, a file of
    its own) gets `_2`, `_3`, ..."""
    taken: set[str] = set()
    out = []
    for n in names:
        candidate, k = n, 2
        while candidate in taken or f"{candidate}_weights" in taken:
            candidate, k = f"{n}_{k}", k + 1
        taken |= {candidate, f"{candidate}_weights"}
        out.append(candidate)
    return out


def _combined_needs(models: list[GeneratedModel], arena: int) -> dict:
    """What check_fits reads, for the whole firmware: every model's layers and weights, one arena (the
    largest), every model's state."""
    largest = max((m.metadata["largest_array"] for m in models), key=lambda a: a["bytes"])
    return {"layers": [l for m in models for l in m.metadata["layers"]],
            "weight_bytes": sum(m.metadata["weight_bytes"] for m in models),
            "arena_bytes": arena + sum(m.metadata["state_bytes"] for m in models), "largest_array": largest}


def _shared_arena_source(names: list[str], nbytes: int) -> str:
    return "\n".join([f"/* Generated by microc: the activation arena of the models {', '.join(names)}, which the",
                      " * firmware runs one at a time (the largest model's arena; each keeps its own state). */",
                      "#include <stdint.h>", "",
                      f"uint8_t {SHARED_ARENA}[{nbytes}] __attribute__((aligned(16)));", ""])


def _generate_fitting(graph, name: str, board, optimize: str, schedules: dict | None, tuning: bool = False,
                      tuning_db: Path | None = None, shared_arena: str | None = None) -> GeneratedModel:
    from microc.codegen.schedule import isas_of
    from microc.tuning.apply import annotate, tuned_schedules
    isas = isas_of(board.features)
    tuned = tuned_schedules(graph, board, isas, tuning_db, schedules) if tuning else {}
    schedules = {**{step: s for step, (s, _) in tuned.items()}, **(schedules or {})}
    model = _generate(graph, name, optimize, isas, schedules, board, shared_arena)
    annotate(model.metadata, tuned, tuning_db, tuning)
    return model


def _generate(graph, name: str, optimize: str, isas, schedules: dict, board,
              shared_arena: str | None = None) -> GeneratedModel:
    from microc.errors import DoesNotFit
    from microc.project import check_fits
    model = generate(graph, name, optimize, isas, schedules, shared_arena)
    try:
        check_fits(model, board)
    except DoesNotFit as balanced_error:
        if optimize != "balanced":
            raise
        smaller = generate(graph, name, "memory", isas, schedules, shared_arena)  # more instructions; may fit
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
    """The project's manifest; for a project of several models, the firmware's (name, board, models)."""
    path = Path(project) / MANIFEST
    if not path.is_file():
        raise MicrocError(f"{project} is not a microc project (no {MANIFEST}); create one with 'microc compile'")
    return json.loads(path.read_text())


def model_index(project: str | Path, model: int | str | None) -> int | None:
    """Which model of the project `model` (an index or a name) addresses: None for a project of one model
    (its runs never send SELECT, as before), an index for a project of several."""
    models = read_manifest(project).get("models")
    if models is None:
        if model not in (None, 0, "0", read_manifest(project)["name"]):
            raise MicrocError(f"{project} holds one model; --model {model} names no other")
        return None
    names = [m["name"] for m in models]
    if model is None:
        raise MicrocError(f"{project} holds {len(models)} models ({', '.join(names)}): choose one with "
                          "--model INDEX or NAME")
    text = str(model)
    if text in names:
        return names.index(text)
    if text.isdigit() and int(text) < len(models):
        return int(text)
    raise MicrocError(f"{project} has no model {model}: its models are "
                      + ", ".join(f"{i} {n}" for i, n in enumerate(names)))


def model_manifest(project: str | Path, index: int | None) -> dict:
    """The manifest as one model sees it: a project of several models gives model `index`'s entry (its
    name, model file and hash) over the firmware's board."""
    manifest = read_manifest(project)
    return manifest if index is None else {**manifest, **manifest["models"][index]}


def metadata_path(project: str | Path, index: int | None = None) -> Path:
    return Path(project) / ("metadata.json" if index is None else model_manifest(project, index)["metadata"])


def read_metadata(project: str | Path, index: int | None = None) -> dict:
    """Model `index`'s metadata (None: the project's one model)."""
    if index is None and "models" in read_manifest(project):
        raise MicrocError(f"{project} holds several models; this command reads a project of one")
    return json.loads(metadata_path(project, index).read_text())


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
