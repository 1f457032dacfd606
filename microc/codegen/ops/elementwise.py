"""Lowerings of the elementwise kernels (runtime_c/include/mc_elementwise.h)."""
