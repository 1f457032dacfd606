"""The intermediate representation: a graph of operators over tensors.

Format-neutral: frontends (tflite, onnx) build it, passes rewrite it, the planner and code generator
read it. Conventions: activations are NHWC; convolution filters are OHWI, depthwise filters 1HW(I*M),
fully-connected weights [out, in]. Operator names follow TFLite's builtin vocabulary (CONV_2D, ADD, ...)
because that vocabulary is what the kernels implement; attributes are plain Python values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

DTYPE_BYTES = {"int8": 1, "uint8": 1, "int16": 2, "int32": 4, "int64": 8, "float32": 4, "bool": 1,
               "uint32": 4, "uint64": 8}  # unsigned: the signal operators' energies and sums


@dataclass
class Quant:
    """Affine quantization real = scale * (q - zero_point), per tensor or per channel along `axis`."""

    scale: np.ndarray  # float64, shape [1] or [channels]
    zero_point: np.ndarray  # int64, same shape as scale
    axis: int | None = None

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    @property
    def s(self) -> float:
        """The per-tensor scale (error if per channel)."""
        assert self.scale.size == 1, "per-channel quantization has no single scale"
        return float(self.scale[0])

    @property
    def zp(self) -> int:
        assert self.zero_point.size == 1, "per-channel quantization has no single zero point"
        return int(self.zero_point[0])


@dataclass(eq=False)
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quant | None = None
    data: np.ndarray | None = None  # set for constants
    # A view: this tensor's bytes are those of `base` from byte `base_offset` on (a band of rows of an
    # NHWC tensor, microc/passes/patches.py); the planner places it inside base's buffer.
    base: "Tensor | None" = None
    base_offset: int = 0
    # A variable tensor (TFLite's is_variable: SVDF's and LSTM's state) keeps its value from one
    # invoke() to the next; the planner gives it a persistent region, outside the arena.
    variable: bool = False
    # What a reset writes over a variable: None, TFLM's ResetVariableTensors (an int8 variable's zero
    # point, any other 0); a byte, memset over every byte (a resource variable: TFLM's
    # MicroResourceVariables fill); "keep": nothing (CALL_ONCE's has-run flag, which TFLM's Reset keeps).
    reset_fill: int | str | None = None

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * DTYPE_BYTES[self.dtype]

    def __repr__(self) -> str:
        return f"Tensor({self.name!r}, {self.shape}, {self.dtype})"


@dataclass(eq=False)
class Op:
    type: str
    inputs: list[Tensor | None]
    outputs: list[Tensor]
    attrs: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    index: int = -1  # position in the source model, for error messages

    def __repr__(self) -> str:
        return f"Op({self.type}, {self.name!r})"


@dataclass
class Graph:
    name: str
    ops: list[Op]
    inputs: list[Tensor]
    outputs: list[Tensor]
    source_hash: str = ""  # sha256 of the model file

    def tensors(self) -> list[Tensor]:
        """Every tensor the graph touches, each once, in first-use order."""
        seen: dict[int, Tensor] = {}
        for t in self.inputs:
            seen.setdefault(id(t), t)
        for op in self.ops:
            for t in [*op.inputs, *op.outputs]:
                if t is not None:
                    seen.setdefault(id(t), t)
        return list(seen.values())

    def activations(self) -> list[Tensor]:
        return [t for t in self.tensors() if not t.is_const]

    def variables(self) -> list[Tensor]:
        return [t for t in self.tensors() if t.variable]

    def constants(self) -> list[Tensor]:
        return [t for t in self.tensors() if t.is_const]

    def op_types(self) -> list[str]:
        return sorted({op.type for op in self.ops})
