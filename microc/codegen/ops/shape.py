"""Lowerings of the shape kernels (runtime_c/include/mc_shape.h)."""
