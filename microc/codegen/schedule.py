"""Schedules: how one layer is implemented, as data given to the lowering that owns its operator.

A schedule is a small frozen dataclass of named knobs (the ISA path, a kernel variant, a weight layout,
...) that a lowering reads from `ctx.schedule` to choose what C it emits; it never selects a second
lowering. Each operator family declares its schedule class, its default (today's heuristics, on the
board's best ISA path) and the candidates a tuner may try (`Lowering.schedule`, `Lowering.choices`).
`generate(graph, name, isas, schedules)` takes one schedule per layer (step -> schedule; missing steps
get the default) and records each in metadata.json (`layers[i].schedule`), so a tuner can measure
other choices per layer and pass them back.

ISA paths (`isa`): "portable" (plain C: Cortex-M0/M3, RISC-V, AVR, the host), "dsp" (the same C
compiled for a CPU with the DSP extension: SMLAD/SXTB16 on Cortex-M4/M7/M33/M55), "mve" (Helium
kernels on the Cortex-M55). The kernels pick their SIMD code by the compiler's target macros, so a
board offers the paths its CPU has: `isas_of(board.features)`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from microc.errors import MicrocError

ISAS = ("portable", "dsp", "mve")


def isas_of(features: dict | None) -> tuple[str, ...]:
    """The ISA paths a board's CPU runs (its `[features]` table), best last. A DSP CPU runs the DSP
    path only: the kernels compile their SMLAD code whenever the compiler targets such a CPU."""
    features = features or {}
    isas = ["dsp" if features.get("dsp") else "portable"]
    if features.get("mve", "none") not in ("none", None, False):
        isas.append("mve")
    return tuple(isas)


@dataclass(frozen=True)
class Schedule:
    """The knobs every scheduled operator has: the ISA path of its kernel."""
    isa: str = "portable"

    def knobs(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ConvSchedule(Schedule):
    """CONV_2D int8 (int16 x int8: kernel "generic" or "gemm" with weights "int16", mc_conv.h).
    kernel "generic": filters read in place (or, with im2col, each pixel's patch gathered as int8
    into scratch first: pays when filter rows are short); "1x1" (1x1 filters without padding): a
    matrix product, 2 output channels x 2 pixels per pass over the pair of pixels
    sign-extended once (DSP targets). weights "int8" as in the model (laid out in channel pairs), or
    "int16" (1x1 on DSP targets): sign-extended at compile time into the SMLAD lanes, twice the
    flash, no unpacking in the inner loop."""
    kernel: str = "generic"
    im2col: bool = False
    weights: str = "int8"


@dataclass(frozen=True)
class FcSchedule(Schedule):
    """FULLY_CONNECTED int8 (int16 x int8: the same two weights, mc_conv.h). weights "int8" as in
    the model (blocks of 4 interleaved rows, unpacked with SXTB16 in the inner loop on DSP targets),
    or "int16": sign-extended at compile time into the SMLAD lanes (twice the flash), the inputs
    sign-extended once per batch, no unpacking left."""
    weights: str = "int8"


@dataclass(frozen=True)
class DepthwiseSchedule(Schedule):
    """DEPTHWISE_CONV_2D int8. kernel "generic": any filter, tap lists; "3x3": 3x3 filters with depth
    multiplier 1, taps unrolled, weights laid out at compile time as sign-extended channel pairs."""
    kernel: str = "generic"


@dataclass(frozen=True)
class TconvSchedule(Schedule):
    """TRANSPOSE_CONV int16. weights "int8" as in the model (plain loops), or "int16": sign-extended
    at compile time, one matrix per filter tap; each output pixel's input pixels gathered, then
    multiplied by their taps' matrices (SMLAD on DSP targets)."""
    weights: str = "int8"


@dataclass(frozen=True)
class TreeSchedule(Schedule):
    """TREE_ENSEMBLE (microc/codegen/ops/trees.py): strategy "code" (if/else, fewest instructions),
    "compact" (the same compiled for size) or "arrays" (node arrays walked in a loop)."""
    strategy: str = "code"


def schedule_from_dict(cls: type[Schedule], knobs: dict) -> Schedule:
    """A schedule of class `cls` from a dict of knobs (metadata.json, a tuning record): unknown knobs
    are an error naming the known ones; missing ones keep their defaults."""
    names = {f.name: f for f in fields(cls)}
    unknown = sorted(set(knobs) - set(names))
    if unknown:
        raise MicrocError(f"unknown schedule knob(s) {', '.join(unknown)} for {cls.__name__} "
                          f"(knobs: {', '.join(names)})")
    return cls(**{k: _typed(names[k].type, k, v) for k, v in knobs.items()})


def _typed(annotation: str, knob: str, value):
    if annotation == "bool":
        if isinstance(value, str):
            if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise MicrocError(f"schedule knob {knob} takes true or false, not '{value}'")
            return value.lower() in ("1", "true", "yes")
        return bool(value)
    if annotation == "int":
        try:
            return int(value)
        except ValueError:
            raise MicrocError(f"schedule knob {knob} takes an integer, not '{value}'") from None
    return str(value)


def parse_override(spec: str) -> tuple[str, dict]:
    """'SELECTOR:knob=value,knob=value' (SELECTOR: a layer index or an operator type) -> (selector,
    knobs), as the CLI's --schedule takes it."""
    selector, sep, rest = spec.partition(":")
    pairs = [p for p in rest.split(",") if p]
    if not sep or not selector or not pairs or any("=" not in p for p in pairs):
        raise MicrocError(f"--schedule '{spec}': expected LAYER_OR_TYPE:knob=value[,knob=value...]")
    return selector, dict(p.split("=", 1) for p in pairs)


def with_knobs(schedule: Schedule, knobs: dict) -> Schedule:
    """`schedule` with some knobs replaced (typed as the class declares them)."""
    typed = schedule_from_dict(type(schedule), knobs)
    return replace(schedule, **{k: getattr(typed, k) for k in knobs})
