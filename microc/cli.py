"""microc's command line. Every user-facing failure is one line on stderr and a non-zero exit."""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from microc import api, tflm_baselines
from microc.api import DEFAULT_BOARD
from microc.errors import MicrocError


class _Cli(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MicrocError as e:
            click.echo(f"microc: error: {e}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("microc: interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="microc")
def main():
    """Compile a neural network (.tflite or .onnx) into static C firmware for a microcontroller, build
    it, run it (host, QEMU, or a board on a serial port) and verify its outputs against
    TensorFlow Lite Micro (onnxruntime for .onnx), with latency and memory measured.

    \b
    Typical use:
      microc boards                                   # the boards microc knows
      microc deploy model.tflite --board mps2-an386 --verify
      microc compile model.tflite --board host -o out && microc build out && microc run out --verify
    """


_board = click.option("--board", "-b", default=DEFAULT_BOARD, show_default=True,
                      help="Target board (see 'microc boards').")
_samples = click.option("--samples", "-n", default=10, show_default=True,
                        help="Random input samples (int8 models also get all -128 and all 127).")
_seed = click.option("--seed", default=0, show_default=True, help="Seed of the random inputs.")
_verify = click.option("--verify", is_flag=True, help="Compare every output with TensorFlow Lite Micro "
                       "(onnxruntime for .onnx); "
                       "exit 1 unless all match.")
_json = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
_method = click.option("--method", type=click.Choice(["minmax", "percentile"]), default="minmax",
                       show_default=True, help="Calibration ranges: extremes, or the 0.01st..99.99th "
                       "percentiles (ignores rare outliers).")


def _parse_input_shapes(ctx, param, values) -> dict:
    """NAME=D,D,... (repeatable) -> {NAME: (D, D, ...)}."""
    shapes = {}
    for text in values:
        name, _, dims = text.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.split(","))
        except ValueError:
            shape = ()
        if not name or not shape or min(shape) < 1:
            raise click.BadParameter(f"'{text}': expected NAME=D,D,... with positive dimensions, "
                                     "e.g. input=1,1,8,8")
        shapes[name] = shape
    return shapes


_input_shape = click.option("--input-shape", "input_shapes", multiple=True, callback=_parse_input_shapes,
                            metavar="NAME=D,D,...", help="Fix the dynamic dimensions of an ONNX model's "
                            "input (repeat per input), e.g. --input-shape input=1,1,8,8.")


_optimize = click.option("--optimize", type=click.Choice(["speed", "balanced", "memory"]), default="balanced",
                         show_default=True,
                         help="speed: kernels as fast as they go; balanced: also operators in place where it "
                              "costs nothing, and as memory when the model would not fit otherwise; memory: the "
                              "smallest arena (in-place convolutions, more instructions).")


_stack_bytes = click.option("--stack-bytes", type=click.IntRange(min=256), metavar="N",
                            help="Stack reserve instead of the board's 32 KiB (a run reports the stack_bytes "
                                 "it measured; add a margin, docs/memory.md).")


_trees = click.option("--trees", "tree_strategy",
                      type=click.Choice(["code", "compact", "arrays", "perfect", "gemm"]), default=None,
                      help="How tree ensembles become C: if/else code, the same compiled for size, node "
                           "arrays in a loop, or Hummingbird's perfect trees or GEMM form (default: tuned or "
                           "chosen per model, docs/classical.md).")


def _parse_schedules(ctx, param, values) -> dict:
    """LAYER_OR_TYPE:knob=value,... (repeatable) -> {step or type: {knob: value}}."""
    from microc.codegen.schedule import parse_override
    out = {}
    for text in values:
        selector, knobs = parse_override(text)
        key = int(selector) if selector.isdigit() else selector
        out[key] = {**out.get(key, {}), **knobs}
    return out


_schedule = click.option("--schedule", "schedules", multiple=True, callback=_parse_schedules,
                         metavar="LAYER_OR_TYPE:KNOB=V,...", help="Override a layer's schedule (a layer "
                         "index or an operator type, e.g. CONV_2D:kernel=gemm); the knobs are in "
                         "metadata.json's layers[i].schedule and docs/tuning.md.")


_db = click.option("--db", "tuning_db", type=click.Path(dir_okay=False),
                   help="The tuning database (JSON lines) instead of the user's default "
                   "(~/.cache/microc/tuning.jsonl; docs/tuning.md).")
_no_tuning = click.option("--no-tuning", is_flag=True, help="Use the default schedules: ignore the tuning "
                          "databases (the user's and the one shipped with microc).")


def _quantize_options(f):
    """--quantize int8 --calibration DATA [--method]: quantize a float model before compiling it."""
    f = _method(f)
    f = click.option("--calibration", type=click.Path(exists=True),
                     help="Calibration samples for --quantize: a .npy, a .npz or a folder of .npy.")(f)
    return click.option("--quantize", type=click.Choice(["int8", "int16x8"]),
                        help="Quantize the float model to int8 (or 16x8: int16 activations, int8 weights) "
                        "first (kept as model/quantized.tflite).")(f)


_stack_hop = click.option("--stack-hop", type=click.IntRange(min=1), metavar="N",
                          help="With two MODELs: the firmware also serves a pipeline (the last --model "
                          "index): the first model over windows N input elements apart, its outputs stacked "
                          "into the second's input (e.g. an audio front end and its keyword model).")


def _one_model_options(models, **options) -> None:
    """Options that belong to a single model are refused for a project of several."""
    given = [f"--{k.replace('_', '-')}" for k, v in options.items() if v]
    if len(models) > 1 and given:
        raise MicrocError(f"{', '.join(given)} applies to a project of one model, not to {len(models)} models")


@main.command("compile")
@click.argument("models", nargs=-1, required=True, metavar="MODEL...", type=click.Path(dir_okay=False))
@_board
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Project folder to write (replaced if it is a microc project).")
@click.option("--name", help="C name of the model, or of the firmware of several (default: from the file "
              "names).")
@_quantize_options
@click.option("--selftest", type=click.IntRange(min=0), default=0, metavar="N",
              help="Embed N inputs with TensorFlow Lite Micro's outputs: the firmware checks itself and "
                   "prints PASS or FAIL (no host link needed; 'microc run' shows it).")
@_input_shape
@_optimize
@_stack_bytes
@_trees
@_schedule
@_db
@_no_tuning
@_stack_hop
def compile_cmd(models, board, out_dir, name, quantize, calibration, method, selftest, input_shapes, optimize,
                stack_bytes, tree_strategy, schedules, tuning_db, no_tuning, stack_hop):
    """Compile MODEL to C and render a project for BOARD into a folder.

    Several MODELs make one project whose firmware holds them all: one shared arena, each model's C
    under its own name; 'microc run PROJECT --model I' runs model I (docs/boards.md)."""
    _one_model_options(models, quantize=quantize, selftest=selftest, input_shape=input_shapes,
                       trees=tree_strategy, schedule=schedules)
    _needs_two(models, stack_hop)
    if len(models) > 1:
        for res in api.compile_models(models, board, out_dir, name=name, optimize=optimize,
                                      stack_bytes=stack_bytes, tuning=not no_tuning, tuning_db=tuning_db,
                                      stack_hop=stack_hop):
            _compiled_line(res, res.name)
        return
    model = models[0]
    res = api.compile(model, board, out_dir, name=name, quantize=quantize, calibration=calibration,
                      method=method, selftest=selftest, input_shapes=input_shapes, optimize=optimize,
                      stack_bytes=stack_bytes, tree_strategy=tree_strategy, schedules=schedules,
                      tuning=not no_tuning, tuning_db=tuning_db)
    if res.quantization is not None:
        click.echo("\n".join(res.quantization.lines()))
    _compiled_line(res, Path(model).name)


def _compiled_line(res, what: str) -> None:
    m = res.metadata
    click.echo(f"compiled {what} for {res.board} into {res.out_dir}: {len(m['layers'])} layers, "
               f"arena {m['arena_bytes']:,} B (lower bound {m['lower_bound_bytes']:,} B), "
               f"weights {m['weight_bytes']:,} B")
    tuned = m.get("tuning", {}).get("tuned_layers")
    if tuned:
        click.echo(f"tuned schedules on {len(tuned)} layers (docs/tuning.md; --no-tuning for the defaults)")


@main.command("build")
@click.argument("project", type=click.Path(file_okay=False, exists=True))
def build_cmd(project):
    """Build a compiled project with its board's toolchain."""
    res = api.build(project)
    click.echo(f"built {res.artifact}: flash {res.flash_bytes:,} B, RAM {res.ram_bytes:,} B")


@main.command("flash")
@click.argument("project", type=click.Path(file_okay=False, exists=True))
@click.option("--port", help="Serial port of the board, for tools that upload through it (arduino-cli, "
              "avrdude).")
@click.option("--dry-run", is_flag=True, help="Print the command that would flash the board; run nothing.")
def flash_cmd(project, port, dry_run):
    """Flash a built project onto its board with the platform's tool (west flash, arduino-cli or avrdude,
    openocd or pyocd, az sphere device sideload deploy)."""
    import shlex
    plan = api.flash(project, port=port, dry_run=dry_run)
    click.echo(shlex.join(plan.command) if dry_run else f"flashed {plan.artifact} with {plan.tool}")


@main.command("run")
@click.argument("project", type=click.Path(file_okay=False, exists=True))
@click.option("--input", "input_file", type=click.Path(dir_okay=False, exists=True),
              help="A .npy of one input, or of N inputs along a leading axis.")
@_samples
@_seed
@_verify
@_json
@click.option("--port", help="Serial port of a real board (e.g. /dev/ttyACM0) instead of the emulator.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for any device reply.")
@click.option("--model", "model", metavar="INDEX|NAME", help="Which model of a project of several to run "
              "(required there).")
def run_cmd(project, input_file, samples, seed, verify, as_json, port, timeout, model):
    """Run a built project on its board (host, QEMU, or --port) and report outputs and cost."""
    from microc.runner.selftest import SelftestResult
    result = api.run(project, input_file, samples=samples, seed=seed, verify=verify, port=port,
                     timeout=timeout, model=model)
    if isinstance(result, SelftestResult):
        click.echo(json.dumps(result.to_json()) if as_json else result.output.rstrip())
        sys.exit(0 if result.passed else 1)
    _finish(result, as_json, verify, Path(project), record=model is None)


@main.command("deploy")
@click.argument("models", nargs=-1, required=True, metavar="MODEL...", type=click.Path(dir_okay=False))
@_board
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False),
              help="Project folder (default: ./microc-out/<model>-<board>, <model>+<model>-<board> for several).")
@click.option("--name", help="C name of the model, or of the firmware of several (default: from the file "
              "names).")
@_samples
@_seed
@_verify
@_json
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for any device reply.")
@_quantize_options
@_input_shape
@_optimize
@_stack_bytes
@_trees
@_schedule
@_db
@_no_tuning
@_stack_hop
def deploy_cmd(models, board, out_dir, name, samples, seed, verify, as_json, timeout, quantize, calibration,
               method, input_shapes, optimize, stack_bytes, tree_strategy, schedules, tuning_db, no_tuning,
               stack_hop):
    """Compile, build and run MODEL on BOARD in one step.

    Several MODELs make one firmware holding them all (docs/boards.md); each model runs in turn on it,
    verified on its own with --verify."""
    _one_model_options(models, quantize=quantize, input_shape=input_shapes, trees=tree_strategy,
                       schedule=schedules)
    _needs_two(models, stack_hop)
    if len(models) > 1:
        _deploy_models(models, board, out_dir, name, samples, seed, verify, as_json, timeout, optimize,
                       stack_bytes, tuning_db, no_tuning, stack_hop)
        return
    model = models[0]

    def compiled(res) -> None:
        if res.quantization is not None and not as_json:
            click.echo("\n".join(res.quantization.lines()), err=True)

    out_dir = Path(out_dir or api.default_output(model, board))
    with _progress("deploying") as step:
        report = api.deploy(model, board, out_dir, samples=samples, seed=seed, verify=verify, timeout=timeout,
                            name=name, quantize=quantize, calibration=calibration, method=method,
                            input_shapes=input_shapes, optimize=optimize, stack_bytes=stack_bytes,
                            tree_strategy=tree_strategy, schedules=schedules, progress=step,
                            on_compiled=compiled, tuning=not no_tuning, tuning_db=tuning_db)
        step("writing the report")
        _finish(report, as_json, verify, out_dir, html=True)


def _needs_two(models, stack_hop) -> None:
    if stack_hop is not None and len(models) != 2:
        raise MicrocError(f"--stack-hop chains two models, not {len(models)}")


def _deploy_models(models, board, out_dir, name, samples, seed, verify, as_json, timeout, optimize, stack_bytes,
                   tuning_db, no_tuning, stack_hop) -> None:
    """deploy of several models: one JSON object {"project", "match", "models": [each run's]} or each
    model's report in turn; exit 1 unless every model matched (with --verify)."""
    from microc.report import print_report
    out_dir = Path(out_dir or api.default_output(models, board))
    with _progress("deploying") as step:
        reports = api.deploy_models(models, board, out_dir, samples=samples, seed=seed, verify=verify,
                                    timeout=timeout, name=name, optimize=optimize, stack_bytes=stack_bytes,
                                    progress=step, tuning=not no_tuning, tuning_db=tuning_db,
                                    stack_hop=stack_hop)
    match = all(r.match for r in reports) if verify else None
    if as_json:
        click.echo(json.dumps({"project": str(out_dir), "match": match, "models": [r.to_json() for r in reports]}))
    else:
        for i, r in enumerate(reports):
            click.echo(f"model {i}: {r.metadata['name']}")
            print_report(r)
    if verify and not match:
        sys.exit(1)


@contextlib.contextmanager
def _progress(first: str):
    """A spinner on stderr naming the current step (drawn only on a terminal; stdout stays clean)."""
    from rich.console import Console
    with Console(stderr=True).status(first) as status:
        yield status.update


@main.command("bench")
@click.argument("models", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--board", "-b", "boards", multiple=True, default=[DEFAULT_BOARD], show_default=True,
              help="Board to measure on; repeat for several.")
@click.option("--samples", "-n", default=1, show_default=True, help="Verified random samples per model.")
@click.option("--markdown", type=click.Path(dir_okay=False), help="Also write the table to this file.")
@click.option("--optimize", "modes", multiple=True, default=["balanced"], show_default=True,
              type=click.Choice(["speed", "balanced", "memory"]), help="--optimize mode; repeat for several.")
@click.option("-o", "--output", "out_dir", default="microc-out/bench", show_default=True,
              type=click.Path(file_okay=False), help="Where the projects are kept, each with its report.html.")
@click.option("--tflm", "tflm_path", type=click.Path(dir_okay=False), default=str(tflm_baselines.DEFAULT_PATH),
              show_default=True, help="TFLM's figures as scripts/bench_tflm.py measured them from your TFLM "
              "checkouts; without the file the TFLM columns stay empty.")
@_db
@_no_tuning
@_json
def bench_cmd(models, boards, samples, markdown, modes, out_dir, tflm_path, as_json, tuning_db, no_tuning):
    """Measure MODELS on BOARDS: instructions per inference (exact, counted by microc's QEMU plugin), estimated
    cycles, arena, flash and RAM bytes, every run verified against TensorFlow Lite Micro. Prints a table, with
    TFLM's figures beside microc's where scripts/bench_tflm.py has measured them (--tflm)."""
    from rich.console import Console
    from rich.markdown import Markdown
    from microc.bench import markdown_table, rows_json
    tflm_baselines.read(tflm_path)  # a damaged file stops here, not after the benchmark
    err = Console(stderr=True)
    with err.status("benchmarking") as status:
        rows = api.bench(models, boards, samples, modes=modes, workdir=out_dir,
                         progress=lambda s: status.update(f"benchmarking {s}"), tuning=not no_tuning,
                         tuning_db=tuning_db)
    table = markdown_table(rows, Path(tflm_path))
    if markdown:
        Path(markdown).write_text(table)
    if as_json:
        click.echo(json.dumps(rows_json(rows, Path(tflm_path))))
    else:
        Console().print(Markdown(table))
    err.print(f"reports: {Path(out_dir) / '<model>-<board>-<mode>' / 'report.html'} (microc report PROJECT)")
    if not all(r.match for r in rows):
        sys.exit(1)


@main.command("tune")
@click.argument("model", type=click.Path(dir_okay=False, exists=True))
@_board
@click.option("--trials", type=click.IntRange(min=1), help="Candidates measured per distinct layer at most "
              "(default: all of them).")
@click.option("--top-k", type=click.IntRange(min=1), help="Measure only each layer's K candidates that the "
              "learned cost model ranks best (trained on the databases' records; docs/tuning.md).")
@_db
@click.option("--port", help="Serial port of a real board (flashed with 'microc flash' for each image).")
@click.option("--objective", type=click.Choice(["cycles", "instructions", "code"]),
              default="cycles", show_default=True, help="What the database lookup and the summary minimize.")
def tune_cmd(model, board, trials, top_k, tuning_db, port, objective):
    """Measure each distinct layer of MODEL (operator, shapes, quantization) under its candidate schedules
    on BOARD, every candidate verified bit-exact against TensorFlow Lite Micro, and append the records
    to the tuning database that compile/deploy/bench use (docs/tuning.md)."""
    from microc.boards import load_board
    from microc.tuning.cli import run_tune
    api.check_runnable(load_board(board), port)
    run_tune(model, board, trials, top_k, tuning_db, port, objective)


@main.command("quantize")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--calibration", required=True, type=click.Path(exists=True),
              help="Calibration samples: a .npy (N x input shape, or one sample), a .npz (one array per "
              "input name, or arr_0) or a folder of .npy.")
@click.option("-o", "--output", "out_file", required=True, type=click.Path(dir_okay=False),
              help="The int8 .tflite to write.")
@_method
@click.option("--percentile", default=99.99, show_default=True, help="Percentile for --method percentile.")
@click.option("--float-io", is_flag=True, help="Keep float32 inputs and outputs (QUANTIZE/DEQUANTIZE at "
              "the edges); default int8 inputs and outputs.")
@_input_shape
@click.option("--scheme", type=click.Choice(["int8", "int16x8"]), default="int8", show_default=True,
              help="int8, or int16x8: int16 activations (zero point 0), int8 weights, int64 biases.")
def quantize_cmd(model, calibration, out_file, method, percentile, float_io, input_shapes, scheme):
    """Quantize a float MODEL to int8 (TFLite's scheme; or 16x8) with calibration data; report per-layer
    SQNR and output agreement of the quantized model against float over the calibration set."""
    res = api.quantize(model, calibration, out_file, method=method, percentile=percentile, float_io=float_io,
                       input_shapes=input_shapes, scheme=scheme)
    click.echo("\n".join(res.lines()))
    click.echo(f"wrote {out_file} ({len(res.model):,} B)")


@main.command("report")
@click.argument("project", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--output", "out_file", type=click.Path(dir_okay=False),
              help="The HTML file to write (default: PROJECT/report.html).")
@_json
def report_cmd(project, out_file, as_json):
    """Write one self-contained HTML page about PROJECT: the model, each layer's share of the time (bar
    chart), the arena's buffers over their lifetimes, flash and RAM by part, and the verification of the
    last 'microc run' or 'deploy' (saved in PROJECT/last_run.json; nothing is rerun)."""
    from microc.project_report import write_report
    path, data = write_report(Path(project), out_file)
    click.echo(json.dumps({**data, "html": str(path)}) if as_json else f"wrote {path}")


@main.command("boards")
def boards_cmd():
    """List the boards microc can target."""
    boards = api.boards()
    width = max(len(b.name) for b in boards)
    for b in boards:
        click.echo(f"{b.name:{width}}  {b.description}")


def _finish(report, as_json: bool, verify: bool, project: Path, html: bool = False, record: bool = True) -> None:
    """Print the run, keep it in the project for 'microc report' (and with `html`, write the report);
    the run of one model of several is not kept (the report covers projects of one model)."""
    from microc.project_report import record_run
    from microc.report import print_report
    page = record_run(project, report.to_json(), html) if record else None
    if as_json:
        click.echo(json.dumps(report.to_json()))
    else:
        print_report(report)
    if page:
        click.echo(f"report: {page}", err=as_json)
    if verify and not report.match:
        sys.exit(1)
