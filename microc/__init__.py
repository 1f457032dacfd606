"""microc: compile neural networks to verified static C firmware for microcontrollers."""
from pathlib import Path

__version__ = "0.1.0"

# Files that ship beside the package in the repository (templates, boards, C runtime).
ROOT = Path(__file__).resolve().parent.parent
RUNTIME_C = ROOT / "runtime_c"
TEMPLATES = ROOT / "templates"
BOARDS = ROOT / "boards"
