"""Does the learned cost model pay? Train it on some models' records of a tuning database, then, for
another model whose layers it has not seen, compare tuning only the top-k candidates it ranks with
exhaustive search (every candidate measured, as `microc tune` without --top-k records them).

    python scripts/costmodel_eval.py --db microc/tuning/shipped.jsonl \
        --train kws_ref_model,vww_96_int8,ad01_int8 --test pretrainedResnet_quant --k 1

Per CPU: measurements (exhaustive vs top-k), and the regret: the test model's cost with each layer at
the best of its top-k, over its cost with each layer at its exhaustive best, less 1 (0 = no loss);
beside it the regret of the default schedules (no tuning at all) and of a random pick of k."""
from __future__ import annotations

import argparse
import random
from collections import defaultdict
from pathlib import Path

from microc.tuning import db
from microc.tuning.costmodel import CostModel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=db.SHIPPED)
    ap.add_argument("--train", required=True, help="model stems, comma-separated")
    ap.add_argument("--test", required=True, help="the model stem to tune")
    ap.add_argument("--k", type=int, default=1)
    ap.add_argument("--objective", default="cycles", choices=db.OBJECTIVES)
    args = ap.parse_args()
    records = [r for r in db.load(args.db) if r.get("verified")]
    train = [r for r in records if r.get("model") in args.train.split(",")]
    model = CostModel(train, args.objective)
    print(f"trained on {model.size} records of {args.train}; testing on {args.test}, top-{args.k}, "
          f"objective {args.objective}")
    print("| CPU | distinct layers | exhaustive measurements | top-k measurements | saved | regret top-k "
          "| regret default | regret random k |")
    print("|---|---|---|---|---|---|---|---|")
    layers = defaultdict(list)
    for r in records:
        if r.get("model") == args.test:
            layers[(r["cpu"], r["op"], r["signature"])].append(r)
    for cpu in sorted({k[0] for k in layers}):
        print(_row(cpu, [v for k, v in layers.items() if k[0] == cpu], model, args.k, args.objective))


def _row(cpu: str, layers: list[list[dict]], model: CostModel, k: int, objective: str) -> str:
    rng = random.Random(0)
    best = chosen = default = randomly = 0.0
    exhaustive = measured = 0
    for recs in layers:
        space = recs[0].get("space") or [r["schedule"] for r in recs]
        by_knobs = {str(r["schedule"]): db.cost(r, objective) for r in recs}
        if any(str(s) not in by_knobs for s in space):
            continue  # not measured exhaustively: no ground truth
        weight = recs[0].get("layers", 1)
        costs = [by_knobs[str(s)] for s in space]
        order = model.rank(recs[0]["op"], cpu, recs[0]["features"], space)[:k]
        exhaustive += len(space)
        measured += min(k, len(space))
        best += weight * min(costs)
        chosen += weight * min(costs[i] for i in order)
        default += weight * costs[0]
        randomly += weight * min(rng.sample(costs, min(k, len(costs))))
    pct = lambda v: f"{100 * (v / best - 1):.2f}%"  # noqa: E731
    return (f"| {cpu} | {len(layers)} | {exhaustive} | {measured} | {exhaustive - measured} | {pct(chosen)} "
            f"| {pct(default)} | {pct(randomly)} |")


if __name__ == "__main__":
    main()
