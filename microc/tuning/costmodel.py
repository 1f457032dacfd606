"""The learned cost model: gradient-boosted trees (scikit-learn) on a layer's shape features, its
operator, the CPU and the schedule's knobs, trained on the tuning databases' verified records to
predict log2 of the objective. `microc tune --top-k K` measures only the K candidates of each layer it
ranks best, so the database grows where the model expects the winners (docs/tuning.md has its figures)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

from microc.tuning import db
from microc.tuning.signature import features

MIN_RECORDS = 10  # fewer verified records than this: no model, every candidate is measured


def row(op: str, cpu: str, feats: dict, schedule: dict) -> dict:
    """One sample: numbers as they are, the operator, CPU and string knobs one-hot, booleans 0/1."""
    out = {**{k: float(v) for k, v in feats.items()}, f"op={op}": 1.0, f"cpu={cpu}": 1.0}
    for k, v in schedule.items():
        if isinstance(v, bool) or isinstance(v, (int, float)):
            out[f"knob:{k}"] = float(v)
        else:
            out[f"knob:{k}={v}"] = 1.0
    return out


class CostModel:
    def __init__(self, records: list[dict], objective: str = "cycles"):
        from sklearn.ensemble import GradientBoostingRegressor
        from sklearn.feature_extraction import DictVectorizer
        usable = [r for r in records if r.get("verified") and r.get("features")
                  and math.isfinite(db.cost(r, objective))]
        self.size = len(usable)
        self.vectorizer = DictVectorizer(sparse=False)
        x = self.vectorizer.fit_transform([row(r["op"], r["cpu"], r["features"], r["schedule"]) for r in usable])
        y = [math.log2(max(db.cost(r, objective), 1)) for r in usable]
        self.model = GradientBoostingRegressor(n_estimators=200, max_depth=4, learning_rate=0.1,
                                               random_state=0).fit(x, y)

    def predict(self, op: str, cpu: str, feats: dict, schedules: list[dict]) -> list[float]:
        x = self.vectorizer.transform([row(op, cpu, feats, s) for s in schedules])
        return list(self.model.predict(x))

    def rank(self, op: str, cpu: str, feats: dict, schedules: list[dict]) -> list[int]:
        """Indices of `schedules`, the predicted best first (ties keep the given order: default first)."""
        pred = self.predict(op, cpu, feats, schedules)
        return sorted(range(len(schedules)), key=lambda i: (pred[i], i))


def ranker(user_db: Path | None, objective: str, top_k: int,
           note: Callable[[str], None] = lambda s: None) -> Callable | None:
    """For `tune`: (op, candidate Schedules, cpu) -> the top_k candidates by a model trained on the
    user's and the shipped database; None (measure all) when they hold too few records."""
    records = db.load(user_db or db.default_path()) + db.load(db.SHIPPED)
    model = CostModel(records, objective) if len(records) >= MIN_RECORDS else None
    if model is None or model.size < MIN_RECORDS:
        note(f"cost model: {len(records)} records, fewer than {MIN_RECORDS}: measuring every candidate")
        return None
    note(f"cost model: trained on {model.size} records; measuring the top {top_k} candidates per layer")

    def rank(op, candidates: list, cpu: str) -> list:
        order = model.rank(op.type, cpu, features(op), [c.knobs() for c in candidates])
        return [candidates[i] for i in order[:top_k]]
    return rank
