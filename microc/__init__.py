"""microc: compile neural networks to verified static C firmware for microcontrollers."""
from importlib.resources import files
from pathlib import Path

__version__ = "0.1.0"


def _data_folder(package: str) -> Path:
    """A data folder that setup.py maps into the package (boards/, templates/, runtime_c/ of the
    repository), as a real directory: from the source tree in an editable install, from site-packages
    in a wheel install."""
    return Path(str(files(package)))


RUNTIME_C = _data_folder("microc.runtime_c_data")
TEMPLATES = _data_folder("microc.templates_data")
BOARDS = _data_folder("microc.boards_data")
# The repository checkout, where there is one (examples/ and tests/ are not installed).
ROOT = Path(__file__).resolve().parent.parent

# The Python API (microc/api.py); build, verify, bench, flash and boards are reached as microc.api.*
# because microc.build, microc.verify, ... name subpackages.
from microc.api import compile, deploy, quantize, run  # noqa: E402,F401  (compile shadows the builtin here only)
