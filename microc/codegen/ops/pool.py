"""Lowerings of the pool kernels (runtime_c/include/mc_pool.h)."""
