"""The top-level data folders of the repository (boards/, templates/, runtime_c/) ship inside the wheel as
the packages microc.boards_data, microc.templates_data and microc.runtime_c_data, so an installed microc
finds them with importlib.resources wherever it runs (microc/__init__.py). Everything else is in
pyproject.toml; setup.py exists only because pyproject's package discovery cannot map extra folders."""
from setuptools import find_packages, setup

DATA = {"microc.boards_data": "boards", "microc.templates_data": "templates", "microc.runtime_c_data": "runtime_c"}

setup(packages=find_packages(include=["microc", "microc.*"]) + list(DATA),
      package_dir=DATA,
      # the C sources of microc's host tools and QEMU plugin, built on the user's machine
      package_data={**{name: ["**/*"] for name in DATA}, "microc.runner": ["simavr_uart/*.c", "plugin/*.c"],
                                                         "microc.tuning": ["shipped.jsonl"]},
      include_package_data=False)
