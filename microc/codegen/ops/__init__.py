"""Operator lowerings, one module per kernel family (runtime_c/include/mc_<family>.h); importing them
registers them."""
from microc.codegen.ops import (activation, conv, elementwise, inplace, ml_elementwise, pointwise, pool,  # noqa: F401
                                shape, signal, slicing, trees, arith, index, recurrent, resize, unary_math,
                                matmul, variables)
