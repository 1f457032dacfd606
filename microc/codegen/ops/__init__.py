"""Operator lowerings, one module per kernel family; importing them registers them."""
from microc.codegen.ops import activation, conv, elementwise  # noqa: F401
