"""Auto-tuning: measure each layer's candidate schedules on the board (tune.py), keep the measurements in
a JSON-lines database (db.py) that compile/deploy/bench consult, and rank candidates with a learned cost
model (costmodel.py). Layers are identified across models by their signature (signature.py)."""
