"""microc's Python API: the functions the command line calls, with the same options and results.

    from microc import api
    project = api.compile("examples/digits/digits_cnn.onnx", board="host", output="digits-host")
    api.build(project.out_dir)
    report = api.run(project.out_dir, samples=3, verify=True)
    assert report.match

Every failure is a microc.errors.MicrocError whose message is the one line the CLI prints. `compile`,
`deploy`, `run` and `quantize` are also attributes of the `microc` package itself; `build`, `verify`,
`bench`, `flash` and `boards` are only here, because microc.build, microc.verify, ... are subpackages.
docs/api.md has the full tour. Heavy modules are imported inside the functions: `import microc` stays
fast (the CLI starts through it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from microc.errors import MicrocError

DEFAULT_BOARD = "mps2-an386"
Progress = Callable[[str], None]


def _quiet(step: str) -> None:
    pass


def compile(model: str | Path, board: str = DEFAULT_BOARD, output: str | Path | None = None, *,
            name: str | None = None, quantize: str | None = None, calibration: str | Path | None = None,
            method: str = "minmax", selftest: int = 0,
            input_shapes: dict[str, tuple[int, ...]] | None = None, optimize: str = "balanced",
            stack_bytes: int | None = None, tree_strategy: str | None = None, schedules: dict | None = None,
            tuning: bool = True, tuning_db: str | Path | None = None):
    """Compile a .tflite or .onnx model to C and render a project for `board` into `output` (default
    ./microc-out/<model>-<board>); replaces `output` only if it is a microc project, and writes it whole
    or not at all. Returns a microc.pipeline.CompileResult (out_dir, name, board, metadata: arena,
    weights and layers; quantization: the QuantizeResult with quantize="int8").

    quantize="int8" with `calibration` (a .npy, .npz or folder of .npy) quantizes a float model first
    (`method` "minmax" or "percentile"); selftest=N embeds N inputs with TFLM's outputs so the firmware
    checks itself; input_shapes fixes an ONNX model's dynamic input dimensions ({"input": (1, 1, 8, 8)});
    optimize ("speed", "balanced", "memory") chooses the planner's in-place operators (docs/memory.md);
    stack_bytes replaces the board's stack reserve; tree_strategy picks how tree ensembles become C;
    schedules overrides layers' schedules ({layer index or operator type: {knob: value}}, docs/tuning.md);
    with `tuning` the other layers take the tuning databases' best verified schedules (the user's
    `tuning_db`, default ~/.cache/microc/tuning.jsonl, then the shipped one; docs/tuning.md).
    """
    from microc.pipeline import compile_model
    output = default_output(model, board) if output is None else output
    return compile_model(model, board, output, name, quantize, calibration, method, selftest=selftest,
                         input_shapes=input_shapes, optimize=optimize, stack_bytes=stack_bytes,
                         tree_strategy=tree_strategy, schedules=schedules, tuning=tuning, tuning_db=tuning_db)


def compile_models(models: Sequence[str | Path], board: str = DEFAULT_BOARD, output: str | Path | None = None, *,
                   name: str | None = None, optimize: str = "balanced", stack_bytes: int | None = None,
                   tuning: bool = True, tuning_db: str | Path | None = None, stack_hop: int | None = None) -> list:
    """Compile several models into one project whose firmware holds them all (one shared arena, each
    model's C under its own name; docs/boards.md). `name` names the firmware. With `stack_hop` (two
    models) the firmware also serves a pipeline, last: the first model over windows `stack_hop` input
    elements apart, its outputs stacked into the second's input (TFLM's micro_speech). Returns a
    CompileResult per model (and the pipeline); run one with run(project, model=INDEX or NAME)."""
    from microc.pipeline import compile_models as compile_all
    output = default_output(models, board) if output is None else output
    return compile_all(models, board, output, name, optimize, stack_bytes, tuning, tuning_db, stack_hop)


def default_output(model: str | Path | Sequence[str | Path], board: str) -> Path:
    """Where `deploy` (and `compile` without `output`) put the project: microc-out/<model>-<board>, or
    <model>+<model>+...-<board> for several."""
    models = [model] if isinstance(model, (str, Path)) else list(model)
    return Path("microc-out") / f"{'+'.join(Path(m).stem for m in models)}-{board}"


def build(project: str | Path):
    """Build a compiled project with its board's toolchain. Returns a microc.build.BuildResult
    (artifact, flash_bytes, ram_bytes)."""
    from microc.build import build_project
    return build_project(Path(project))


def run(project: str | Path, inputs=None, *, samples: int = 10, seed: int = 0, verify: bool = False,
        port: str | None = None, timeout: float = 120.0, model: int | str | None = None):
    """Run a built project on its board (host process, QEMU, or a board on serial `port`).

    `inputs`: a .npy path or an array holding one input or N inputs along a leading axis (models with
    one input), or a list of samples, each a list of arrays (one per input); default `samples` random
    inputs from `seed`. With verify=True every output is compared with TensorFlow Lite Micro
    (onnxruntime for .onnx). Returns a microc.runner.session.RunReport (match, samples,
    instructions, per-layer instructions, to_json()) - or, for a project compiled with selftest=N, a
    microc.runner.selftest.SelftestResult (passed, output). `model`: which model of a project of several
    (its index or name; required there)."""
    from microc.boards import load_board
    from microc.pipeline import read_manifest
    from microc.runner.session import run_project
    manifest = read_manifest(project)
    check_runnable(load_board(manifest["board"]), port)
    if manifest.get("selftest"):
        from microc.runner.selftest import run_selftest_project
        return run_selftest_project(project, timeout)
    input_file, arrays = (inputs, None) if isinstance(inputs, (str, Path)) else (None, inputs)
    return run_project(Path(project), input_file=input_file, inputs=arrays, samples=samples, seed=seed,
                       verify=verify, port=port, timeout=timeout, model=model)


def verify(project: str | Path, inputs=None, **options):
    """run(..., verify=True): the RunReport's `match` says whether every output agreed."""
    return run(project, inputs, verify=True, **options)


def check_runnable(board, port: str | None) -> None:
    """A board that is neither this machine nor emulated runs only where it is plugged in."""
    if not port and board.family != "host" and not board.qemu and not board.simavr:
        raise MicrocError(f"{board.name} is not emulated here: flash it (microc flash) and run with "
                          "--port PORT (e.g. --port /dev/ttyACM0)")


def deploy(model: str | Path, board: str = DEFAULT_BOARD, output: str | Path | None = None, *,
           samples: int = 10, seed: int = 0, verify: bool = False, timeout: float = 120.0,
           name: str | None = None, quantize: str | None = None, calibration: str | Path | None = None,
           method: str = "minmax", input_shapes: dict[str, tuple[int, ...]] | None = None,
           optimize: str = "balanced", stack_bytes: int | None = None, tree_strategy: str | None = None,
           schedules: dict | None = None, progress: Progress = _quiet, on_compiled: Callable[[object], None] = _quiet,
           tuning: bool = True, tuning_db: str | Path | None = None):
    """compile, build and run in one step (options as there). `progress` is told each step as it
    starts; `on_compiled` gets the CompileResult (the CLI prints the quantization report from it).
    Returns the RunReport."""
    from microc.boards import load_board
    check_runnable(load_board(board), None)
    output = default_output(model, board) if output is None else Path(output)
    progress(f"compiling {Path(model).name} for {board}")
    on_compiled(compile(model, board, output, name=name, quantize=quantize, calibration=calibration,
                        method=method, input_shapes=input_shapes, optimize=optimize,
                        stack_bytes=stack_bytes, tree_strategy=tree_strategy, schedules=schedules,
                        tuning=tuning, tuning_db=tuning_db))
    progress(f"building {output}")
    build(output)
    progress(f"running on {board}" + (" and verifying" if verify else ""))
    return run(output, samples=samples, seed=seed, verify=verify, timeout=timeout)


def deploy_models(models: Sequence[str | Path], board: str = DEFAULT_BOARD, output: str | Path | None = None, *,
                  samples: int = 10, seed: int = 0, verify: bool = False, timeout: float = 120.0,
                  name: str | None = None, optimize: str = "balanced", stack_bytes: int | None = None,
                  progress: Progress = _quiet, tuning: bool = True, tuning_db: str | Path | None = None,
                  stack_hop: int | None = None) -> list:
    """compile_models, build, and run each model of the one firmware in turn (options as deploy).
    Returns a RunReport per model."""
    from microc.boards import load_board
    check_runnable(load_board(board), None)
    output = default_output(models, board) if output is None else Path(output)
    progress(f"compiling {len(models)} models for {board}")
    compiled = compile_models(models, board, output, name=name, optimize=optimize, stack_bytes=stack_bytes,
                              tuning=tuning, tuning_db=tuning_db, stack_hop=stack_hop)
    progress(f"building {output}")
    build(output)
    reports = []
    for i, c in enumerate(compiled):
        progress(f"running model {i} ({c.name}) on {board}" + (" and verifying" if verify else ""))
        reports.append(run(output, samples=samples, seed=seed, verify=verify, timeout=timeout, model=i))
    return reports


def bench(models: Sequence[str | Path], boards: Sequence[str] = (DEFAULT_BOARD,), samples: int = 1,
          progress: Progress = _quiet, modes: Sequence[str] = ("balanced",),
          workdir: str | Path | None = None, tuning: bool = True, tuning_db: str | Path | None = None) -> list:
    """Compile, build and run every model on every board with its outputs verified; a list of
    microc.bench.BenchRow (instructions per inference, arena, weight, flash and RAM bytes, match), for
    each `optimize` mode in `modes`; the projects are kept in `workdir` when given (else a temporary
    folder).
    microc.bench.markdown_table(rows) is the table `microc bench` prints."""
    from microc.bench import run_bench
    return run_bench([Path(m) for m in models], list(boards), samples, progress=progress, modes=list(modes),
                     workdir=None if workdir is None else Path(workdir), tuning=tuning,
                     tuning_db=None if tuning_db is None else Path(tuning_db))


def quantize(model: str | Path, calibration: str | Path, output: str | Path | None = None, *,
             method: str = "minmax", percentile: float = 99.99, float_io: bool = False,
             input_shapes: dict[str, tuple[int, ...]] | None = None, scheme: str = "int8"):
    """Quantize a float model to int8 (TFLite's scheme; `scheme="int16x8"`: int16 activations, int8
    weights, int64 biases) with calibration data. Returns a
    microc.quantization.QuantizeResult (model: the .tflite bytes, layers: per-layer SQNR, outputs:
    agreement with float, lines(): the report); writes the model to `output` when given (whole or not
    at all)."""
    from microc.quantization import quantize_model
    result = quantize_model(model, calibration, method, percentile, float_io, input_shapes, scheme)
    if output is not None:
        _write_atomically(Path(output), result.model)
    return result


def _write_atomically(out: Path, data: bytes) -> None:
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(out)  # never a half-written model
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise MicrocError(f"cannot write {out}: {e.strerror}") from None


def flash(project: str | Path, port: str | None = None, dry_run: bool = False):
    """Flash a built project onto its board with the platform's tool; dry_run only works out the
    command. Returns a microc.flash.FlashPlan (tool, command, artifact)."""
    from microc.flash import flash_project
    return flash_project(Path(project), port=port, dry_run=dry_run)


def boards() -> list:
    """Every board microc can target (microc.boards.Board: name, description, family, memory, ...)."""
    from microc.boards import list_boards
    return list_boards()
