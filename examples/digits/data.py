"""The digits data split shared by train.py and the on-device demo.

scikit-learn's bundled 8x8 digits (1797 images, 10 classes, no download), shuffled once with a fixed
seed; the last 20% is held out for testing. Images are NCHW float32 [N, 1, 8, 8] scaled to [0, 1]
(raw pixels are 0..16), which is what digits_cnn.onnx takes as "input".
"""
from functools import lru_cache

import numpy as np
from sklearn.datasets import load_digits

SPLIT_SEED = 0
HELDOUT_FRACTION = 0.2


@lru_cache(maxsize=1)
def _shuffled():
    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    return x[order], y[order]


def _n_train():
    n = len(_shuffled()[1])
    return n - int(n * HELDOUT_FRACTION)


def train_set():
    """(x float32 [N,1,8,8], y int64 [N]) the model was trained on."""
    x, y = _shuffled()
    n = _n_train()
    return x[:n].copy(), y[:n].copy()


def heldout_set():
    """(x float32 [N,1,8,8], y int64 [N]) never seen in training: the accuracy figures use it."""
    x, y = _shuffled()
    n = _n_train()
    return x[n:].copy(), y[n:].copy()


def calibration_set(n):
    """The first n training images, float32 [n,1,8,8], for int8 calibration (no held-out data)."""
    x, _ = train_set()
    if not 1 <= n <= len(x):
        raise ValueError(f"calibration_set: n must be in 1..{len(x)}, got {n}")
    return x[:n]
