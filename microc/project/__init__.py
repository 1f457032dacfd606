"""A board project: the model's C (already in model/), the runtime it needs, and the board's template
rendered around it, so that plain `make` builds it with nothing but the board's toolchain."""
from microc.project.fit import check_fits, memory_needs
from microc.project.render import render_project
from microc.project.selftest import write_selftest

__all__ = ["check_fits", "memory_needs", "render_project", "write_selftest"]
