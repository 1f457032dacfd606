#!/usr/bin/env python3
"""Classical models on the emulated Cortex-M4 (mps2-an386): microc (each tree strategy) against emlearn
and m2cgen, with the same compiler, flags, firmware and instruction counter.

Each model is trained on a scikit-learn bundled dataset (nothing is downloaded), exported to ONNX-ML,
compiled by microc, built, run over the held-out samples under QEMU and verified against onnxruntime.
emlearn's and m2cgen's C for the same fitted model is built into the same firmware (microc's runner,
startup and platform files; the generated model source replaced by a wrapper that calls the tool's
predict function) and run on the same samples. Instructions are the median per inference with microc's
counter: "invoke" is the whole call, "model" is microc's layers (without its per-layer timer marks) or
a wrapper's invoke less that of the same firmware whose invoke does nothing. Flash and RAM are of the
whole firmware; "model flash" is that less the empty firmware's.

    .venv/bin/python scripts/bench_classical.py [--out docs/classical-table.md] [--samples 60]
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import classical_models  # noqa: E402
from microc.build import build_project  # noqa: E402
from microc.codegen.ops.trees import STRATEGIES, fits  # noqa: E402
from microc.frontends import load_model  # noqa: E402
from microc.pipeline import compile_model, read_metadata  # noqa: E402
from microc.runner.session import run_project  # noqa: E402

BOARD = "mps2-an386"
MODELS = [("random_forest", "breast_cancer"), ("gradient_boosting", "breast_cancer"),
          ("xgboost", "digits"), ("lightgbm", "wine"), ("isolation_forest", "breast_cancer"),
          ("linear_svm", "breast_cancer"), ("rbf_svm", "breast_cancer")]


def measure(project: Path, x: np.ndarray, verify: bool) -> dict:
    build = build_project(project)
    np.save(project / "x.npy", x[:, None, :])
    report = run_project(project, input_file=str(project / "x.npy"), verify=verify)
    labels = np.array([int(s.outputs[0].reshape(-1)[0]) for s in report.samples])
    layers = report.layer_instructions  # microc's layers (the last sample); none for the wrappers
    return {"instructions": report.instructions, "flash": build.flash_bytes, "ram": build.ram_bytes,
            "match": report.match, "labels": labels,
            "layers": sum(layers) if layers and None not in layers else None}


def microc_rows(t, x, work: Path, features: str = "float32") -> list[dict]:
    """microc's rows; `features` int16: the model with int16 features (a Cast in front), run on x
    truncated to int16 as emlearn's int16 forest reads it, verified against onnxruntime on those."""
    trees = not t.name.startswith(("linear", "rbf"))
    path, suffix = t.onnx_path, ""
    if features != "float32":
        path = classical_models.integer_input(t.onnx_path, features, work / f"{features}.onnx")
        x, suffix = x.astype(features), f" {features}"
    rows = []
    ens = load_model(path).ops[0].attrs["ensemble"] if trees else None
    for strategy in ([s for s in STRATEGIES if fits(ens, s)] if trees else [None]):  # the tuner's candidates
        project = work / f"microc-{strategy or 'default'}{suffix.strip()}"
        compile_model(path, BOARD, project, name="model", tree_strategy=strategy)
        tool = f"microc {strategy}{suffix}" if strategy else "microc"
        rows.append({"tool": tool, **measure(project, x, True)})
    return rows


# ---- the other tools: their C in microc's firmware ------------------------------------------------

WRAPPER = """/* Benchmark wrapper: {tool}'s generated C behind microc's model interface. */
#include <string.h>
#include "model.h"
{include}

static float model_arena[{arena_floats}] __attribute__((aligned(16)));
static const uint32_t model_input_bytes[1] = {{{in_bytes}}};
static const uint32_t model_output_bytes[2] = {{8, {out_bytes}}};

void *model_input(int i) {{ (void)i; return model_arena; }}
void *model_output(int i) {{ return i == 0 ? (void *)(model_arena + {label_at}) : (void *)(model_arena + {scores_at}); }}

int model_invoke(void) {{
  const float *x = model_arena;
  int64_t *label = (int64_t *)(model_arena + {label_at});
  (void)x; (void)label;
{body}
  return 0;
}}

int model_run(const void *const *inputs, void *const *outputs) {{
  if (inputs && inputs[0]) memcpy(model_input(0), inputs[0], model_input_bytes[0]);
  model_invoke();
  if (outputs && outputs[0]) memcpy(outputs[0], model_output(0), 8);
  return 0;
}}

static const char model_info_json[] = {info};

const mc_model_t model_model = {{
  "model", model_info_json, 1, 2, model_input_bytes, model_output_bytes,
  model_input, model_output, model_invoke, 0, NULL, NULL, NULL, 0, NULL
}};
"""


def wrap(microc_project: Path, dest: Path, tool: str, source: str, body: str, n_features: int,
         extra_c: str = "", in_bytes: int | None = None) -> Path:
    """A copy of microc's project whose model is `source` (the tool's C) called by `body`."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(microc_project, dest, ignore=shutil.ignore_patterns("build", "x.npy"))
    meta = read_metadata(dest)
    for f in (dest / "model").glob("*.c"):
        f.unlink()
    # the tools' C has unused parameters and variables; -Werror would refuse what -O2 compiles the same
    quiet = "".join(f'#pragma GCC diagnostic ignored "-W{w}"\n' for w in
                    ("unused-parameter", "unused-variable", "unused-function", "sign-compare"))
    (dest / "model" / "tool_model.h").write_text(quiet + "#include <math.h>\n" + source)  # m2cgen uses exp()
    info = {k: meta[k] for k in ("name", "model_hash", "inputs", "outputs", "arena_bytes", "layers_count")}
    n_scores = meta["outputs"][1]["bytes"] // 4
    label_at = (n_features + 1) // 2 * 2  # 8-byte aligned, after the input
    text = WRAPPER.format(tool=tool, include='#include "tool_model.h"\n' + extra_c,
                          arena_floats=label_at + 2 + n_scores, in_bytes=in_bytes or 4 * n_features,
                          out_bytes=4 * n_scores, label_at=label_at, scores_at=label_at + 2, body=body,
                          info=json.dumps(json.dumps(info, separators=(",", ":"))))
    (dest / "model" / "model.c").write_text(text)
    return dest


def emlearn_rows(t, x, microc_project: Path, work: Path, int16_project: Path | None = None) -> list[dict]:
    """emlearn's float forest on the float inputs; its int16 (default) forest on int16 features, the
    inputs truncated as its Python wrapper does, read from the input of microc's int16 project."""
    import emlearn
    if type(t.model).__name__ not in ("RandomForestClassifier",):
        return []
    rows = []
    n = x.shape[1]
    for dtype, label in (("float", "emlearn float"), ("int16_t", "emlearn int16 (default)")):
        with tempfile.TemporaryDirectory() as tmp:
            c = emlearn.convert(t.model, method="inline", dtype=dtype)
            c.save(file=f"{tmp}/em.h", name="em")
            source = Path(f"{tmp}/em.h").read_text()
        if dtype == "float":
            proj = wrap(microc_project, work / f"emlearn-{dtype}", "emlearn", source,
                        f"  *label = em_predict(x, {n});", n)
            rows.append({"tool": label, **measure(proj, x, False)})
        else:
            proj = wrap(int16_project, work / f"emlearn-{dtype}", "emlearn", source,
                        f"  *label = em_predict((const int16_t *)(const void *)x, {n});", n, in_bytes=2 * n)
            rows.append({"tool": label, **measure(proj, x.astype(np.int16), False)})
    return rows


def m2cgen_rows(t, x, microc_project: Path, work: Path) -> list[dict]:
    import m2cgen
    model, pre = t.model, ""
    n = x.shape[1]
    if hasattr(model, "steps"):  # a scaler + linear model pipeline: the scaling in C, in float
        scaler, model = model.steps[0][1], model.steps[-1][1]
        mean = ", ".join(f"{v!r}f" for v in scaler.mean_.astype(np.float32).tolist())
        scale = ", ".join(f"{v!r}f" for v in scaler.scale_.astype(np.float32).tolist())
        pre = (f"static const float bench_mean[{n}] = {{{mean}}};\n"
               f"static const float bench_scale[{n}] = {{{scale}}};\n")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            source = m2cgen.export_to_c(model)
    except Exception as e:  # models m2cgen does not cover (GradientBoostingClassifier, IsolationForest, XGBoost 3)
        print(f"bench: m2cgen: {type(e).__name__}: {str(e)[:100]}", file=sys.stderr)
        return []
    scaled = "(x[i] - bench_mean[i]) / bench_scale[i]" if pre else "x[i]"
    body = f"  double in[{n}]; int i;\n  for (i = 0; i < {n}; ++i) in[i] = {scaled};\n"
    n_classes = len(getattr(model, "classes_", []))
    if "double * output)" in source:
        body += (f"  double out[{n_classes}]; int best = 0;\n  score(in, out);\n"
                 f"  for (i = 1; i < {n_classes}; ++i) if (out[i] > out[best]) best = i;\n"
                 f"  *label = best;")
    else:
        body += "  *label = score(in) > 0.0 ? 1 : 0;"
    proj = wrap(microc_project, work / "m2cgen", "m2cgen",
                source, body, n, pre)
    return [{"tool": "m2cgen", **measure(proj, x, False)}]


def baseline(microc_project: Path, work: Path, x: np.ndarray) -> dict:
    proj = wrap(microc_project, work / "empty", "nothing", "", "", x.shape[1])
    return measure(proj, x, False)


def bench_model(kind: str, data: str, work: Path, samples: int) -> dict:
    t = classical_models.train(kind, data, work)
    x = t.x_test[:samples]
    expected = t.model.predict(x)
    rows = microc_rows(t, x, work)
    first = work / f"microc-{'code' if rows[0]['tool'] != 'microc' else 'default'}"
    if type(t.model).__name__ == "RandomForestClassifier":  # emlearn's int16 forest: the same int16 inputs
        rows += microc_rows(t, x, work, "int16")
    rows += emlearn_rows(t, x, first, work, work / "microc-codeint16") + m2cgen_rows(t, x, first, work)
    empty = baseline(first, work, x)
    for r in rows:
        r["model_flash"] = r["flash"] - empty["flash"]
        # the model's own instructions: microc's layers (without its per-layer timer marks), the
        # wrappers' invoke less the empty wrapper's
        r["model_instructions"] = r.pop("layers") if r["tool"].startswith("microc") else \
            r["instructions"] - empty["instructions"]
        r["agree"] = float(np.mean(r.pop("labels") == expected))
        r["accuracy"] = None
    trees = getattr(t.model, "n_estimators", None)
    return {"model": t.name, "samples": len(x), "trees": trees, "rows": rows,
            "sklearn_accuracy": float(np.mean(expected == t.y_test[:samples]))}


def table(results: list[dict]) -> str:
    lines = ["| model | tool | instructions (model) | instructions (invoke) | flash (model) | flash (total) | RAM "
             "| labels = scikit-learn's | verified |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for res in results:
        for r in res["rows"]:
            verified = {True: "match", False: "MISMATCH", None: "-"}[r["match"]]
            lines.append(f"| {res['model']} | {r['tool']} | {r['model_instructions']:,} | {r['instructions']:,} | "
                         f"{r['model_flash']:,} | {r['flash']:,} | {r['ram']:,} | {r['agree']:.1%} | {verified} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="write the markdown table here (default: stdout only)")
    ap.add_argument("--json", type=Path, help="write the raw results here")
    ap.add_argument("--samples", type=int, default=60, help="held-out samples per model")
    ap.add_argument("--models", nargs="*", default=[f"{k}:{d}" for k, d in MODELS])
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-classical-") as tmp:
        for spec in args.models:
            kind, data = spec.split(":")
            print(f"bench: {kind} on {data}", file=sys.stderr)
            results.append(bench_model(kind, data, Path(tmp) / f"{kind}-{data}", args.samples))
    text = table(results)
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float) + "\n")
    return 0 if all(r["match"] is not False for res in results for r in res["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
