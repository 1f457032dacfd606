"""The state of one ONNX import: every ONNX value's IR tensor and layout, and the IR ops emitted so far.

A Value is what an ONNX name stands for: a constant (numpy, ONNX order), or an IR tensor with a Layout
(microc.frontends.onnx_layout). In QDQ models a value may be 'dequantized': its IR tensor is int8 and
the ONNX float value is that tensor dequantized; ops between a DequantizeLinear and a QuantizeLinear
are emitted on the int8 tensors (see onnx_ops.quant_mode).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from onnx import NodeProto

from microc.errors import ModelFormatError, UnsupportedOperator
from microc.frontends.onnx_layout import Layout, inverse, same_order
from microc.ir import Op, Quant, Tensor


@dataclass(eq=False)
class Value:
    name: str
    shape: tuple[int, ...]  # ONNX shape
    tensor: Tensor | None = None
    layout: Layout | None = None
    const: np.ndarray | None = None  # ONNX-ordered data (the real value of a dequantized constant)
    qconst: tuple[np.ndarray, Quant] | None = None  # integer data and quant of a DequantizeLinear'd constant
    dequantized: bool = False  # tensor is int8; the ONNX value is its dequantization
    views: dict = field(default_factory=dict)  # other layouts/dtypes of the same value, materialized

    @property
    def is_const(self) -> bool:
        return self.const is not None


class Builder:
    def __init__(self, model_name: str, consumers: dict[str, list[NodeProto]], outputs: set[str]):
        self.model_name = model_name
        self.ops: list[Op] = []
        self.values: dict[str, Value] = {}
        self.consumers = consumers
        self.graph_outputs = outputs
        self.done: set[int] = set()  # ids of nodes absorbed by an earlier one (fused, folded)
        self.node: NodeProto | None = None
        self.node_index = -1
        self.opset = 0  # of the default domain
        self.classical = False  # the model has ONNX-ML operators (microc.frontends.onnx_ml)
        self.unroll_lstm = False  # for `microc quantize`: an LSTM as builtins (microc.frontends.onnx_rnn)
        self.conv_pads: dict[int, tuple[int, int, int, int]] = {}  # id(Conv node) -> pads of a Pad fused in
        self.infos: dict[str, tuple[tuple[int, ...] | None, int]] = {}  # name -> (static shape, elem type)
        self._n = 0

    # ---- errors -------------------------------------------------------------------------------
    def where(self) -> str:
        named = self.node.name or next((o for o in self.node.output if o), '')
        return f"{self.node.op_type} (node {self.node_index}, '{named}')"

    def refuse(self, why: str) -> UnsupportedOperator:
        return UnsupportedOperator(f"{self.where()}: {why}")

    # ---- values -------------------------------------------------------------------------------
    def value(self, name: str) -> Value | None:
        if not name:
            return None
        if name not in self.values:
            raise ModelFormatError(f"{self.where()} reads '{name}', which nothing produces")
        return self.values[name]

    def input(self, i: int) -> Value | None:
        return self.value(self.node.input[i]) if i < len(self.node.input) else None

    def const_input(self, i: int, what: str) -> np.ndarray | None:
        v = self.input(i)
        if v is None:
            return None
        if not v.is_const:
            raise self.refuse(f"{what} must be a constant (it is computed at run time)")
        return v.const

    def sole_consumer(self, name: str, op_types: tuple[str, ...]) -> NodeProto | None:
        users = self.consumers.get(name, [])
        if len(users) == 1 and name not in self.graph_outputs and users[0].op_type in op_types:
            return users[0]
        return None

    # ---- tensors and ops ----------------------------------------------------------------------
    def tensor(self, name: str, shape, dtype: str, quant: Quant | None = None,
               data: np.ndarray | None = None) -> Tensor:
        return Tensor(name=name, shape=tuple(int(d) for d in shape), dtype=dtype, quant=quant, data=data)

    def const_tensor(self, data: np.ndarray, hint: str, dtype: str | None = None,
                     quant: Quant | None = None) -> Tensor:
        data = np.ascontiguousarray(data, dtype=dtype)
        self._n += 1
        return self.tensor(f"{hint}_{self._n}", data.shape, str(data.dtype), quant, data)

    def like(self, t: Tensor, shape, suffix: str) -> Tensor:
        """A new activation tensor with t's dtype and quantization."""
        self._n += 1
        return self.tensor(f"{t.name}_{suffix}{self._n}", shape, t.dtype, t.quant)

    def emit(self, op_type: str, inputs: list, outputs: list[Tensor], **attrs) -> Op:
        name = self.node.name or self.node.output[0] if self.node is not None else outputs[0].name
        op = Op(op_type, inputs, outputs, attrs, name=name, index=self.node_index)
        self.ops.append(op)
        return op

    def define(self, name: str, shape, tensor: Tensor, layout: Layout, dequantized: bool = False) -> Value:
        v = Value(name, tuple(shape), tensor=tensor, layout=layout, dequantized=dequantized)
        self.values[name] = v
        return v

    # ---- layouts ------------------------------------------------------------------------------
    def reshape(self, t: Tensor, shape) -> Tensor:
        shape = tuple(int(d) for d in shape)
        if t.shape == shape:
            return t
        out = self.like(t, shape, "r")
        self.emit("RESHAPE", [t, self.const_tensor(np.array(shape, np.int32), "shape")], [out])
        return out

    def reshape_copy(self, t: Tensor) -> Tensor:
        out = self.like(t, t.shape, "c")
        self.emit("RESHAPE", [t, self.const_tensor(np.array(t.shape, np.int32), "shape")], [out])
        return out

    def transpose(self, t: Tensor, perm) -> Tensor:
        """t (shape: its permuted fine shape) transposed; a RESHAPE when memory order is kept."""
        perm = tuple(perm)
        out_shape = tuple(t.shape[p] for p in perm)
        if Layout(t.shape, perm).keeps_memory_order():
            return self.reshape(t, out_shape)
        out = self.like(t, out_shape, "t")
        self.emit("TRANSPOSE", [t, self.const_tensor(np.array(perm, np.int32), "perm")], [out])
        return out

    def ir(self, v: Value, layout: Layout | None = None, shape=None, dtype: str | None = None) -> Tensor:
        """v's IR tensor in `layout` (default: ONNX order) reshaped to `shape` (default: the layout's
        permuted shape), as float32 or int8 (`dtype`, default: as stored); emits what it takes."""
        layout = layout or Layout.identity(v.shape)
        shape = tuple(shape or layout.permuted_shape())
        key = (layout, shape, dtype)
        if key not in v.views:  # made once per value and layout: constants too, so weights are not copied
            make = self._const_ir if v.is_const else self._materialize
            v.views[key] = make(v, layout, shape, dtype)
        return v.views[key]

    def _const_ir(self, v: Value, layout: Layout, shape, dtype: str | None) -> Tensor:
        if dtype == "int8" or (dtype is None and v.qconst is not None):
            if v.qconst is None:
                raise self.refuse(f"constant '{v.name}' is float where the int8 op needs a quantized one")
            data, q = v.qconst
            return self.const_tensor(layout.apply(data).reshape(shape), v.name, str(data.dtype), q)
        return self.const_tensor(layout.apply(v.const.astype(np.float32)).reshape(shape), v.name, "float32")

    def _materialize(self, v: Value, layout: Layout, shape, dtype: str | None) -> Tensor:
        t = v.tensor
        if dtype == "float32" and v.dequantized:
            t = self.dequantize(v)
        elif dtype == "int8" and not v.dequantized and t.dtype != "int8":
            raise self.refuse(f"'{v.name}' is float where the int8 op needs a quantized tensor")
        src = v.layout
        if same_order(src, layout):
            return self.reshape(t, shape)
        if src.fine == layout.fine:
            t = self.transpose(self.reshape(t, src.permuted_shape()), _relative(src.perm, layout.perm))
            return self.reshape(t, shape)
        # Different fine shapes: back to ONNX order first, then into the target order.
        t = self.transpose(self.reshape(t, src.permuted_shape()), inverse(src.perm))
        t = self.transpose(self.reshape(t, layout.fine), layout.perm)
        return self.reshape(t, shape)

    def as_float(self, v: Value) -> Value:
        """v itself, or for a dequantized value a float32 value over its DEQUANTIZE output."""
        if not v.dequantized:
            return v
        return Value(v.name, v.shape, tensor=self.dequantize(v), layout=v.layout)

    def dequantize(self, v: Value) -> Tensor:
        """A float32 copy of a dequantized value's int8 tensor (a DEQUANTIZE op, made once)."""
        if "float" not in v.views:
            out = self.tensor(f"{v.tensor.name}_f", v.tensor.shape, "float32")
            self.emit("DEQUANTIZE", [v.tensor], [out])
            v.views["float"] = out
        return v.views["float"]


def _relative(src_perm, dst_perm) -> tuple[int, ...]:
    """The transpose taking data in src_perm order to dst_perm order (both over one fine shape)."""
    return tuple(src_perm.index(p) for p in dst_perm)
