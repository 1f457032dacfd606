"""Lowerings of the pointwise kernels (runtime_c/include/mc_pointwise.h)."""
