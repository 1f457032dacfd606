"""Board data: one TOML file per board in boards/ (fields documented in docs/boards.md).

A board names its family (the template folder in templates/ and the runner that starts it), its
toolchain, memory map, link, timer and how to run it. Adding a board of a known family is one TOML
file; a new family is a template folder plus the platform C files its boards list.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from microc import BOARDS, RUNTIME_C
from microc.errors import MicrocError

FAMILIES = ("host", "cortex-m", "riscv", "zephyr", "azure-sphere", "arduino")


@dataclass(frozen=True)
class Region:
    origin: int
    size: int

    @property
    def end(self) -> int:
        return self.origin + self.size


@dataclass(frozen=True)
class Toolchain:
    prefix: str = ""  # e.g. "arm-none-eabi-"; "" for the host compiler
    compiler: str = "gcc"
    cflags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    debian_package: str = "gcc"  # what to install when the compiler is missing

    @property
    def cc(self) -> str:
        return self.prefix + self.compiler

    @property
    def size(self) -> str:
        return self.prefix + "size"


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    family: str
    toolchain: Toolchain
    platform: tuple[str, ...]  # files of runtime_c/platform/ the project compiles
    memory: dict[str, Region] = field(default_factory=dict)  # named regions; empty on the host
    placement: dict = field(default_factory=dict)  # which region holds code, rodata, data, arena, stack
    stack_bytes: int = 0
    features: dict = field(default_factory=dict)
    uart: dict = field(default_factory=dict)
    timer: dict = field(default_factory=dict)
    exit: dict = field(default_factory=dict)
    qemu: dict = field(default_factory=dict)
    zephyr: dict = field(default_factory=dict)  # `board`: the Zephyr board name given to west build -b
    flash: dict = field(default_factory=dict)  # how `microc flash` programs it (microc/flash.py)
    arduino: dict = field(default_factory=dict)  # `fqbn` and library `architecture` (family arduino)
    simavr: dict = field(default_factory=dict)  # `mcu` and `frequency` for simavr (AVR boards)
    baudrate: int = 115200
    path: Path | None = None

    def to_instructions(self, ticks: int) -> int | None:
        """A tick count from mc_ticks() as executed instructions; None where ticks are time (host)."""
        per_tick = self.timer.get("instructions_per_tick")  # 31.25 where the clock is 32 MHz
        return None if per_tick is None else round(int(ticks) * per_tick)

    def region(self, what: str) -> Region | None:
        """The region that holds `what` (code, rodata, data, arena, stack), None on the host."""
        name = self.placement.get(what)
        return self.memory.get(name) if name else None

    def regions_for(self, kinds: tuple[str, ...]) -> dict[str, Region]:
        """The distinct regions holding any of `kinds`, by region name."""
        names = {self.placement[k] for k in kinds if k in self.placement}
        return {n: self.memory[n] for n in sorted(names)}


def list_boards() -> list[Board]:
    return [load_board(p.stem) for p in sorted(BOARDS.glob("*.toml"))]


def board_names() -> list[str]:
    return sorted(p.stem for p in BOARDS.glob("*.toml"))


def load_board(name: str) -> Board:
    path = BOARDS / f"{name}.toml"
    if not path.is_file():
        raise MicrocError(f"unknown board '{name}'; known boards: {', '.join(board_names())}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise MicrocError(f"board file {path.name} is not valid TOML: {e}") from None
    try:
        return _board_from(data, path)
    except (KeyError, TypeError, ValueError) as e:
        raise MicrocError(f"board file {path.name} is malformed: {_describe(e)}") from None


def _describe(e: Exception) -> str:
    return f"missing field {e}" if isinstance(e, KeyError) else str(e)


def _board_from(d: dict, path: Path) -> Board:
    if d["name"] != path.stem:
        raise ValueError(f"name '{d['name']}' differs from the file name")
    if d["family"] not in FAMILIES:
        raise ValueError(f"family '{d['family']}' is not one of {', '.join(FAMILIES)}")
    tc = d.get("toolchain", {})
    toolchain = Toolchain(tc.get("prefix", ""), tc.get("compiler", "gcc"), tuple(tc.get("cflags", ())),
                          tuple(tc.get("ldflags", ())), tc.get("debian_package", "gcc"))
    memory = {k: Region(int(v["origin"]), int(v["size"])) for k, v in d.get("memory", {}).items()}
    placement = dict(d.get("placement", {}))
    stack_bytes = int(placement.pop("stack_bytes", 0))
    for what, region in placement.items():
        if region not in memory:
            raise ValueError(f"placement.{what} names region '{region}', which [memory] lacks")
    platform = tuple(d.get("platform", ()))
    for f in platform:
        if not (RUNTIME_C / "platform" / f).is_file():
            raise ValueError(f"platform file runtime_c/platform/{f} does not exist")
    return Board(d["name"], d.get("description", ""), d["family"], toolchain, platform, memory, placement,
                 stack_bytes, d.get("features", {}), d.get("uart", {}), d.get("timer", {}),
                 d.get("exit", {}), d.get("qemu", {}), d.get("zephyr", {}), d.get("flash", {}),
                 d.get("arduino", {}), d.get("simavr", {}), int(d.get("uart", {}).get("baudrate", 115200)),
                 path)
