"""How an IR tensor holds an ONNX value whose axes microc has reordered.

The kernels are NHWC; ONNX models are NCHW. Rather than transposing inside the graph, the importer keeps
each ONNX value in whatever order its producer wrote it and records the relation as a Layout:

    ir_data = onnx_value.reshape(fine).transpose(perm)        (then reshaped to the IR tensor's shape)

Conv writes (N,C,H,W) values as Layout((N,C,H,W), (0,2,3,1)); a Transpose node only changes the perm;
Reshape/Flatten/Squeeze keep the producer's order (a 'fine' shape that is not the value's own shape).
Every relation is over the flat data, so the IR tensor's own shape never matters for correctness.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

NHWC = (0, 2, 3, 1)


@dataclass(frozen=True)
class Layout:
    fine: tuple[int, ...]
    perm: tuple[int, ...]

    @staticmethod
    def identity(shape) -> "Layout":
        return Layout(tuple(shape), tuple(range(len(shape))))

    @staticmethod
    def nhwc(shape) -> "Layout":
        return Layout(tuple(shape), NHWC)

    def is_perm_of(self, shape) -> bool:
        """True when this is a plain axis permutation of a value of `shape`."""
        return self.fine == tuple(shape)

    def permuted_shape(self) -> tuple[int, ...]:
        return tuple(self.fine[p] for p in self.perm)

    def keeps_memory_order(self) -> bool:
        """True when the reordering is a reshape: the axes longer than 1 keep their order."""
        moved = [p for p in self.perm if self.fine[p] != 1]
        return moved == sorted(moved)

    def ir_axis(self, onnx_axis: int) -> int:
        """The IR axis holding an ONNX axis (for an axis permutation)."""
        return self.perm.index(onnx_axis)

    def apply(self, data: np.ndarray) -> np.ndarray:
        """The IR order of an ONNX-ordered array holding the whole value (shape: permuted_shape)."""
        return np.ascontiguousarray(np.reshape(data, self.fine).transpose(self.perm))

    def index_map(self) -> np.ndarray:
        """For each IR element in memory order, the flat index of the ONNX element it holds."""
        return self.apply(np.arange(int(np.prod(self.fine, dtype=np.int64)))).reshape(-1)


def inverse(perm) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def same_order(a: Layout, b: Layout) -> bool:
    """Two layouts of one value put its elements in the same memory order."""
    if a == b or (a.keeps_memory_order() and b.keeps_memory_order()):
        return True
    return bool(np.array_equal(a.index_map(), b.index_map()))


def as_axis_perm(layout: Layout, shape) -> Layout | None:
    """An axis permutation of `shape` holding the elements in the same order as `layout`, if any."""
    shape = tuple(shape)
    if layout.keeps_memory_order():
        return Layout.identity(shape)
    if len(shape) > 5 or np.prod(shape, dtype=np.int64) > 1 << 20:
        return None
    want = layout.index_map()
    for perm in itertools.permutations(range(len(shape))):
        cand = Layout(shape, perm)
        if np.array_equal(cand.index_map(), want):
            return cand
    return None


def gemm_columns(layout: Layout, rows: int, cols: int) -> np.ndarray | None:
    """If the IR data is the [rows, cols] ONNX matrix with only its columns permuted, that permutation
    (IR column j holds ONNX column sigma[j]); else None."""
    idx = layout.index_map().reshape(rows, cols)
    if not np.array_equal(idx // cols, np.repeat(np.arange(rows)[:, None], cols, axis=1)):
        return None
    sigma = idx % cols
    return sigma[0] if np.all(sigma == sigma[0]) else None


def after_dropping_axes(perm, dropped) -> tuple[int, ...]:
    """The permutation that remains when the ONNX axes `dropped` (size 1 or reduced away) disappear."""
    kept = [a for a in range(len(perm)) if a not in set(dropped)]
    return tuple(kept.index(p) for p in perm if p in kept)
