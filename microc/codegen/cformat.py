"""Formatting of C literals: arrays of constants and strings."""
from __future__ import annotations

import json

import numpy as np

_PER_LINE = 24


def c_array(name: str, ctype: str, values: np.ndarray, attr: str = "MC_WEIGHT_ATTR") -> str:
    """`const T name[N] MC_WEIGHT_ATTR = {...};` with exact literals (floats round-trip float32); `attr`
    is the placement macro (runtime_c/include/mc_common.h)."""
    items = _float_literals(values) if ctype == "float" else _int_literals(values)
    rows = [", ".join(items[i:i + _PER_LINE]) for i in range(0, len(items), _PER_LINE)]
    body = ",\n  ".join(rows) if rows else "0"
    return f"const {ctype} {name}[{max(len(items), 1)}] {attr} = {{\n  {body}\n}};\n"


def _int_literals(values: np.ndarray) -> list[str]:
    return [str(v) if v != -(2**31) else "(-2147483647 - 1)" for v in np.asarray(values).tolist()]


def _float_literals(values: np.ndarray) -> list[str]:
    out = []
    for v in np.asarray(values, np.float32):
        if np.isfinite(v):
            out.append(f"{v!s}f" if ("." in str(v) or "e" in str(v)) else f"{v!s}.0f")
        else:
            out.append("NAN" if np.isnan(v) else ("INFINITY" if v > 0 else "-INFINITY"))
    return out


def c_string(text: str) -> str:
    """A C string literal; JSON escaping is valid C escaping for the characters JSON emits."""
    return json.dumps(text, ensure_ascii=True)
