"""Generate the model's C sources: a header with the API and macros, the ahead-of-time executor with its
parameter structs and arena, and the weights as const arrays. Returns files in memory so the caller
can write them all or nothing."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from microc.codegen.cformat import c_array, c_string
from microc.codegen.lowering import (CTYPES, LoweringContext, check_supported, in_place_candidates,
                                     in_place_emitter, lowering_for)
from microc.codegen.schedule import Schedule, with_knobs
from microc.errors import MicrocError
from microc.ir import Graph, Tensor
from microc.passes import patches
from microc.passes.order import memory_order
from microc.planner import Plan, bound_of, plan_arena


# Bytes past the arena's end that kernels on an ISA path may read (never write): the Helium kernels'
# last vector of a run (runtime_c/include/mc_mve.h).
ARENA_SLACK = {"mve": 16}


@dataclass
class GeneratedModel:
    name: str
    files: dict[str, str]  # path relative to the model folder -> text
    metadata: dict
    plan: Plan
    arena_array_bytes: int = 0  # the arena array: the plan's bytes and the slack ISA paths may read


def generate(graph: Graph, name: str, optimize: str = "balanced", isas: tuple[str, ...] = ("portable",),
             schedules: dict | None = None, shared_arena: str | None = None) -> GeneratedModel:
    """`optimize` (speed, balanced, memory) chooses the in-place variants the planner may use
    (microc/codegen/lowering.py in_place_candidates). `isas`: the board's ISA paths
    (schedule.isas_of(board.features)). `schedules`: per layer (step index in execution order, or an
    operator type for all its layers) a Schedule or a dict of knobs over the default. `shared_arena`:
    the C array (defined elsewhere, e.g. microc.project.multi) holding the activations of every model
    of a firmware that runs them one after the other, instead of the model's own; its state stays its own.
    Every symbol is prefixed with `name`, so models of different names link into one firmware."""
    check_supported(graph)
    graph = memory_order(graph)
    chosen = resolve_schedules(graph, isas, schedules or {})
    plan = plan_arena(graph, _scratch_needs(graph, chosen), in_place_candidates(graph, optimize, chosen))
    patched = _patched(graph, chosen, plan) if optimize == "memory" else None
    patch_info = None
    if patched is not None:
        patch_info = _patch_info(graph, *patched)
        graph, chosen, plan = patched[1:]
    ctx = LoweringContext(plan=plan, prefix=name)
    calls = []
    for step, op in enumerate(graph.ops):
        ctx.step, ctx.schedule = step, chosen.get(step)
        ctx.layer = op.attrs["patch"]["op"] if "patch" in op.attrs else step
        emit = in_place_emitter(op) if step in plan.in_place else lowering_for(op).emit
        calls.append(emit(op, ctx))
    info = _info(graph, name, plan)
    layers = _layer_table(graph, plan, chosen)
    sizes = {a.name: a.values.size * np.dtype(_np(a.ctype)).itemsize for a in ctx.arrays}
    weight_bytes = sum(sizes.values())
    largest = max(sizes, key=sizes.get, default=None)  # boards may limit one object's size (AVR)
    array_bytes = arena_array_bytes(plan, chosen)
    files = {
        f"{name}.h": _header(graph, name, plan),
        f"{name}.c": _source(graph, name, plan, ctx, calls, info, shared_arena, array_bytes),
        f"{name}_weights.c": _weights(name, ctx),
    }
    metadata = {**info, "lower_bound_bytes": plan.lower_bound_bytes, "optimize": optimize,
                 "planner": {**_planner_info(graph, plan), "patches": patch_info}, "weight_bytes": weight_bytes,
                "largest_array": {"name": largest, "bytes": sizes[largest] if largest else 0},
                "operators": graph.op_types(), "layers": layers}
    return GeneratedModel(name, files, metadata, plan, array_bytes)


def arena_array_bytes(plan: Plan, chosen: dict[int, Schedule]) -> int:
    """The arena array's size: the plan (at least 16 bytes) and the slack its ISA paths may read past it."""
    return max(plan.arena_bytes, 16) + max((ARENA_SLACK.get(s.isa, 0) for s in chosen.values()), default=0)


def _patched(graph: Graph, chosen: dict[int, Schedule], plan: Plan):
    """The first stage run patch by patch (microc/passes/patches.py) where that plans a smaller arena:
    (graph, schedules, plan) of the candidate with the smallest layer-wise bound (fewest operations
    on a tie), or None when no candidate beats `plan`."""
    best = None
    for p in patches.candidates(graph):
        g, origin = patches.apply(graph, p)
        sched = {step: chosen[o] for step, o in enumerate(origin) if o in chosen}
        needs = (_scratch_needs(g, sched), in_place_candidates(g, "memory", sched))
        key = (bound_of(g, *needs), patches.macs(g))
        if best is None or key < best[0]:
            best = key, p, g, sched, needs
    if best is None or best[0][0] >= plan.arena_bytes:
        return None
    _, p, g, sched, needs = best
    new = plan_arena(g, *needs)
    return (p, g, sched, new) if new.arena_bytes < plan.arena_bytes else None


def _patch_info(graph: Graph, p: patches.Patches, patched: Graph, chosen, plan: Plan) -> dict:
    """What the patches cover and cost (metadata.json planner.patches; docs/memory.md)."""
    return {"layers": list(range(p.end)), "patches": p.count, "rows": p.rows,
            "steps": [0, sum("patch" in op.attrs for op in patched.ops) - 1],
            "outputs": [t.name for t in patches.outputs_of(graph, p.end)],
            "operations": patches.macs(graph), "patched_operations": patches.macs(patched)}


def _planner_info(graph: Graph, plan: Plan) -> dict:
    """The arena as planned: every buffer (tensors sharing it, offset, bytes, steps alive), the
    operators run in place and those refused (docs/memory.md)."""
    buffers = [{"name": b.name, "offset": b.offset, "bytes": b.size, "first": b.first, "last": b.last,
                "tensors": [t.name for t in b.tensors], "scratch": not b.tensors,
                "shares": b.shares.name if b.shares else None}
               for b in sorted(plan.buffers, key=lambda b: (b.offset, b.first))]
    return {"placement": plan.placement, "greedy_bytes": plan.greedy_bytes, "buffers": buffers,
            "in_place": [{"step": s, "type": graph.ops[s].type, "input": i, "option": plan.options.get(s, 0)}
                         for s, i in sorted(plan.in_place.items())],
            "refused": [{"step": s, "type": graph.ops[s].type, "why": w}
                        for s, w in sorted(plan.refused.items())]}


def schedule_choices(graph: Graph, isas: tuple[str, ...]) -> dict[int, list[Schedule]]:
    """Every scheduled layer's candidate schedules on these ISA paths, its default first."""
    choices = {}
    for step, op in enumerate(graph.ops):
        fn = lowering_for(op).schedules
        if fn is not None:
            choices[step] = fn(op, isas)
    return choices


def resolve_schedules(graph: Graph, isas: tuple[str, ...], requested: dict) -> dict[int, Schedule]:
    """The schedule of each scheduled layer: the requested one (a Schedule, or knobs over the default;
    keyed by step or by operator type, a step winning) if it is one of the layer's candidates, else
    the default. A request that matches no layer, or that no candidate has, is an error."""
    choices = schedule_choices(graph, isas)
    used, chosen = set(), {}
    for step, candidates in choices.items():
        op = graph.ops[step]
        key = step if step in requested else str(step) if str(step) in requested else op.type
        want = requested.get(key, candidates[0])
        if key in requested:
            used.add(key)
        if isinstance(want, dict):
            want = with_knobs(candidates[0], want)
        if want not in candidates:
            raise MicrocError(f"schedule {want} is not available for layer {step} ({op.type}) on "
                              f"ISA paths {', '.join(isas)}; its candidates: "
                              f"{', '.join(map(str, candidates))}")
        chosen[step] = want
    unused = [str(k) for k in requested if k not in used]
    if unused:
        raise MicrocError(f"schedule for {', '.join(unused)}: no scheduled layer has that index or "
                          "operator type")
    return chosen


def _scratch_needs(graph: Graph, chosen: dict[int, Schedule]) -> dict[int, int]:
    needs = {}
    for step, op in enumerate(graph.ops):
        fn = lowering_for(op).scratch_bytes
        if fn is not None:
            needs[step] = fn(op, chosen.get(step))
    return needs


def _np(ctype: str) -> str:
    return {"float": "float32", "uint8_t": "uint8"}.get(ctype, ctype.removesuffix("_t"))


def _tensor_info(t: Tensor) -> dict:
    d = {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "bytes": t.nbytes}
    if t.quant is not None and t.quant.scale.size == 1:
        d.update(scale=float(t.quant.s), zero_point=t.quant.zp)
    return d


def _fixed_inputs(graph: Graph) -> dict[int, list[int]]:
    """Graph inputs whose only valid value is known at compile time: the output shape TRANSPOSE_CONV
    takes as an input (its kernel, like TFLM's, reads the output tensor's static shape instead)."""
    return {id(op.inputs[0]): list(op.outputs[0].shape) for op in graph.ops
            if op.type == "TRANSPOSE_CONV" and op.inputs and op.inputs[0] is not None}


def _info(graph: Graph, name: str, plan: Plan) -> dict:
    fixed = _fixed_inputs(graph)
    return {"name": name, "model_hash": graph.source_hash,
            "inputs": [{**_tensor_info(t), **({"value": fixed[id(t)]} if id(t) in fixed else {})}
                       for t in graph.inputs],
            "outputs": [_tensor_info(t) for t in graph.outputs],
            "arena_bytes": plan.arena_bytes, "state_bytes": plan.state_bytes, "layers_count": len(graph.ops)}


def _layer_table(graph: Graph, plan: Plan, chosen: dict[int, Schedule]) -> list[dict]:
    rows = []
    for step, op in enumerate(graph.ops):
        rows.append({
            "index": step, "type": op.type, "name": op.name,
            "inputs": [list(t.shape) for t in op.inputs if t is not None and not t.is_const],
            "output": list(op.outputs[0].shape), "dtype": op.outputs[0].dtype,
            "weight_bytes": sum(t.nbytes for t in op.inputs if t is not None and t.is_const),
            "arena_offsets": [plan.offset_of(t) for t in [*op.inputs, *op.outputs]
                              if t is not None and not t.is_const and not t.variable],
            "output_tensors": [{"name": t.name, "offset": plan.offset_of(t), "bytes": t.nbytes}
                               for t in op.outputs if not t.variable],  # variables: not in the arena
            "schedule": chosen[step].knobs() if step in chosen else None,
            "patch": op.attrs.get("patch"),
        })
    return rows


def _header(graph: Graph, name: str, plan: Plan) -> str:
    up = name.upper()
    lines = [f"/* Generated by microc for model '{name}' ({graph.source_hash[:16]}). Do not edit. */",
             f"#ifndef {up}_H", f"#define {up}_H", "", "#include <stdint.h>", '#include "mc_model.h"', "",
             f"#define {up}_ARENA_BYTES {plan.arena_bytes}",
             f"#define {up}_STATE_BYTES {plan.state_bytes}",
             f"#define {up}_NUM_INPUTS {len(graph.inputs)}",
             f"#define {up}_NUM_OUTPUTS {len(graph.outputs)}",
             f"#define {up}_NUM_LAYERS {len(graph.ops)}"]
    for kind, tensors in (("INPUT", graph.inputs), ("OUTPUT", graph.outputs)):
        for i, t in enumerate(tensors):
            lines += _tensor_macros(f"{up}_{kind}{i}", t)
    lines += ["",
              "/* Copy inputs in (NULL or the arena pointer: no copy), run every layer, copy outputs out.",
              " * Returns 0 on success. */",
              f"int {name}_run(const void *const *inputs, void *const *outputs);",
              "/* Run on inputs already written in place; write them at these arena addresses. */",
              f"int {name}_invoke(void);",
              "/* Set the model's state (variable tensors, kept from one invoke to the next) to its",
              " * initial value, as before the first invoke; nothing to do for a model without state. */",
              f"void {name}_reset(void);",
              f"void *{name}_input(int i);",
              f"void *{name}_output(int i);",
              f"extern const mc_model_t {name}_model;", "", "#endif", ""]
    return "\n".join(lines)


def _tensor_macros(p: str, t: Tensor) -> list[str]:
    lines = [f"#define {p}_DIMS {len(t.shape)}",
             f"#define {p}_SHAPE {{{', '.join(map(str, t.shape))}}}",
             f"#define {p}_BYTES {t.nbytes}",
             f"#define {p}_DTYPE \"{t.dtype}\"",
             f"typedef {CTYPES[t.dtype]} {p.lower()}_t;"]
    if t.quant is not None and t.quant.scale.size == 1:
        lines += [f"#define {p}_SCALE {float(t.quant.s)!r}f", f"#define {p}_ZERO_POINT {t.quant.zp}"]
    return lines


def _source(graph: Graph, name: str, plan: Plan, ctx: LoweringContext, calls: list[str], info: dict,
            shared_arena: str | None, array_bytes: int) -> str:
    n_in, n_out = len(graph.inputs), len(graph.outputs)
    externs = [f"extern const {a.ctype}{' MC_FLASH' if a.flash else ''} {a.name}[{a.values.size}];"
               for a in ctx.arrays]
    body = []
    for step, (op, call) in enumerate(zip(graph.ops, calls)):
        body += [f"  /* {step}: {op.type} {_comment(op.name)} -> {list(op.outputs[0].shape)} */",
                 f"  MC_LAYER_BEGIN({step});", f"  {call}", f"  MC_LAYER_END({step});"]
    in_offs = ", ".join(str(plan.offset_of(t)) for t in graph.inputs)
    out_offs = ", ".join(str(plan.offset_of(t)) for t in graph.outputs)
    in_bytes = ", ".join(str(t.nbytes) for t in graph.inputs)
    out_bytes = ", ".join(str(t.nbytes) for t in graph.outputs)
    return f"""/* Generated by microc for model '{name}'. Do not edit. */
#include <string.h>
#include "{name}.h"
#include "mc_kernels.h"

/* Every activation lives at a fixed offset planned at compile time ({plan.arena_bytes} bytes;
 * the layer-wise lower bound is {plan.lower_bound_bytes}). */
{_arena_decl(name, shared_arena, array_bytes)}

static const uint32_t {name}_input_offsets[{n_in}] = {{{in_offs}}};
static const uint32_t {name}_output_offsets[{n_out}] = {{{out_offs}}};
static const uint32_t {name}_input_bytes[{n_in}] = {{{in_bytes}}};
static const uint32_t {name}_output_bytes[{n_out}] = {{{out_bytes}}};

#ifdef MC_PROFILE
/* Each layer's timer ticks, and marks for an instruction-counting emulator (mc_profile.h). */
#include "mc_profile.h"
static uint64_t {name}_layer_ticks[{max(len(graph.ops), 1)}];
#define MC_PROFILE_INVOKE() mc_profile_invoke({name}_layer_ticks)
#define MC_LAYER_BEGIN(i) mc_profile_layer_begin()
#define MC_LAYER_END(i) mc_profile_layer_end()
#define MC_LAYER_TICKS {name}_layer_ticks
#else
#define MC_PROFILE_INVOKE() (void)0
#define MC_LAYER_BEGIN(i) (void)0
#define MC_LAYER_END(i) (void)0
#define MC_LAYER_TICKS NULL
#endif

{chr(10).join(externs)}

{chr(10).join(ctx.decls)}

void *{name}_input(int i) {{ return {name}_arena + {name}_input_offsets[i]; }}
void *{name}_output(int i) {{ return {name}_arena + {name}_output_offsets[i]; }}

{_state_source(graph, name, plan)}

int {name}_invoke(void) {{
  {name}_state_init();
  MC_PROFILE_INVOKE();
{chr(10).join(body)}
  return 0;
}}

int {name}_run(const void *const *inputs, void *const *outputs) {{
  int i, status;
  for (i = 0; i < {n_in}; ++i)
    if (inputs && inputs[i] && inputs[i] != {name}_input(i))
      memcpy({name}_input(i), inputs[i], {name}_input_bytes[i]);
  status = {name}_invoke();
  for (i = 0; i < {n_out}; ++i)
    if (outputs && outputs[i] && outputs[i] != {name}_output(i))
      memcpy(outputs[i], {name}_output(i), {name}_output_bytes[i]);
  return status;
}}

{_layer_function(name, calls)}

static const char {name}_info_json[] = {c_string(json.dumps(info, separators=(",", ":")))};

const mc_model_t {name}_model = {{
  "{name}", {name}_info_json, {n_in}, {n_out}, {name}_input_bytes, {name}_output_bytes,
  {name}_input, {name}_output, {name}_invoke, {len(graph.ops)}, MC_LAYER_TICKS,
  {name}_layer, {name}_arena, {array_bytes}u, {name}_reset
}};
"""


def _arena_decl(name: str, shared_arena: str | None, nbytes: int) -> str:
    if shared_arena is None:
        return f"static uint8_t {name}_arena[{nbytes}] __attribute__((aligned(16)));"
    return "\n".join([f"/* Shared with the firmware's other models, which run one at a time. */",
                      f"extern uint8_t {shared_arena}[];", f"#define {name}_arena {shared_arena}"])


def _layer_function(name: str, calls: list[str]) -> str:
    """One layer on the arena as it stands, for the runner's LAYER request (docs/protocol.md), which
    reads back every layer's output to find the first one that differs from the reference. invoke()
    does not call it, so a normal inference runs exactly the same instructions."""
    cases = [f"    case {step}: {{ {call} }} return 0;" for step, call in enumerate(calls)]
    return "\n".join([f"static int {name}_layer(int i) {{", f"  {name}_state_init();", "  switch (i) {", *cases,
                      "    default: return -1;", "  }", "}"])


def _state_source(graph: Graph, name: str, plan: Plan) -> str:
    """The persistent region of the variable tensors, its reset (int8 variables start at their zero
    point, others at 0, as TFLM's ResetVariableTensors) and the first invoke's implicit reset."""
    if not plan.state_bytes:
        return "\n".join([f"void {name}_reset(void) {{}}", f"#define {name}_state_init() (void)0"])
    fills = [f"  memset({name}_state + {plan.state[id(t)]}, {_reset_byte(t)}, {t.nbytes});"
             for t in graph.variables() if t.reset_fill != "keep"]
    return "\n".join([
        f"/* The variable tensors ({plan.state_bytes} bytes): kept between invokes, never reused. */",
        f"static uint8_t {name}_state[{plan.state_bytes}] __attribute__((aligned(16)));",
        f"static uint8_t {name}_state_ready;", "",
        f"void {name}_reset(void) {{", *fills, f"  {name}_state_ready = 1;", "}", "",
        f"static void {name}_state_init(void) {{", f"  if (!{name}_state_ready) {name}_reset();", "}"])


def _reset_byte(t: Tensor) -> int:
    """The byte a reset writes over variable `t` (ir.Tensor.reset_fill)."""
    if t.reset_fill is not None:
        return t.reset_fill
    return t.quant.zp & 0xFF if t.dtype == "int8" and t.quant is not None else 0


def _comment(text: str) -> str:
    """Text from the model file, safe inside a C comment on one line."""
    return " ".join(text.replace("*/", "* /").split())


def _weights(name: str, ctx: LoweringContext) -> str:
    parts = [f"/* Generated by microc for model '{name}': constant data, placed in flash. */",
             "#include <stdint.h>", '#include "mc_kernels.h"', ""]
    parts += [c_array(a.name, a.ctype + " MC_FLASH" if a.flash else a.ctype, a.values,
                      "MC_FLASH_ATTR" if a.flash else "MC_WEIGHT_ATTR") for a in ctx.arrays]
    return "\n".join(parts) + "\n"
