"""Lowerings of the activation kernels (runtime_c/include/mc_activation.h)."""
