"""Exact instruction counts from microc's QEMU plugin (microc/runner/plugin/mc_count.c), per INVOKE and per
layer, by instruction class; microc/cycles.py prices the classes per CPU.

The plugin is built with the host's C compiler on first use (and by scripts/setup.sh) into a cache folder
keyed by its source's hash. Where it cannot be built, where the firmware has no marks (built before they
existed), or where QEMU cannot load it, the run falls back to the board's timer and says why
(`CounterInfo.note`).
"""
from __future__ import annotations

import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PLUGIN_SOURCE = Path(__file__).with_name("plugin") / "mc_count.c"
MARKERS = {"invoke_begin": "mc_mark_invoke_begin", "invoke_end": "mc_mark_invoke_end",
           "layer_begin": "mc_mark_layer_begin", "layer_end": "mc_mark_layer_end"}
# Classes that are events on top of an instruction's own class, not instructions (mc_count.c).
EVENTS = ("ldm_regs", "stm_regs", "taken", "taken_indirect")


PLUGIN_FLAGS = ["-shared", "-fPIC", "-fvisibility=hidden"]


def build_plugin() -> tuple[Path | None, str]:
    """(the plugin's shared library, "") or (None, why it cannot be built). Built once per source."""
    from microc.build.host_tools import host_tool
    return host_tool(PLUGIN_SOURCE, PLUGIN_FLAGS, ".so")


def elf_symbols(elf: Path, names: set[str]) -> dict[str, int]:
    """Addresses of the named symbols in an ELF file's symbol table (32- or 64-bit, little-endian)."""
    data = elf.read_bytes()
    if data[:4] != b"\x7fELF" or data[5] != 1:
        return {}
    wide = data[4] == 2
    shoff, shentsize, shnum = ((struct.unpack_from("<Q", data, 0x28)[0], *struct.unpack_from("<HH", data, 0x3A))
                               if wide else (struct.unpack_from("<I", data, 0x20)[0],
                                             *struct.unpack_from("<HH", data, 0x2E)))
    sections = [data[shoff + i * shentsize: shoff + (i + 1) * shentsize] for i in range(shnum)]
    found = {}
    for sh in sections:
        kind = struct.unpack_from("<I", sh, 4)[0]
        if kind != 2:  # SHT_SYMTAB
            continue
        off, size, link, entsize = (struct.unpack_from("<QQIIQQ", sh, 24)[i] for i in (0, 1, 2, 5)) if wide \
            else (struct.unpack_from("<IIIIII", sh, 16)[i] for i in (0, 1, 2, 5))
        strtab = sections[link]
        str_off = struct.unpack_from("<Q" if wide else "<I", strtab, 24 if wide else 16)[0]
        for at in range(off, off + size, entsize):
            name_off = struct.unpack_from("<I", data, at)[0]
            value = struct.unpack_from("<Q", data, at + 8)[0] if wide else struct.unpack_from("<I", data, at + 4)[0]
            end = data.index(b"\0", str_off + name_off)
            name = data[str_off + name_off:end].decode("ascii", "replace")
            if name in names:
                found[name] = value
    return found


@dataclass
class Counts:
    """Executed instructions of one span by class (mc_count.c's names), events included."""
    by_class: dict[str, int]

    @property
    def instructions(self) -> int:
        return sum(n for c, n in self.by_class.items() if c not in EVENTS)


@dataclass
class InvokeRecord:
    total: Counts
    layers: list[Counts] = field(default_factory=list)


class PluginCounter:
    """The plugin's QEMU arguments for one run, and the INVOKE records it writes."""

    def __init__(self, lib: Path, board, markers: dict[str, int]):
        self._dir = tempfile.TemporaryDirectory(prefix="microc-count-")
        self.path = Path(self._dir.name) / "counts.txt"
        arch = "riscv" if board.family == "riscv" else "arm"
        args = [str(lib), f"out={self.path}", f"arch={arch}"]
        args += [f"{key}=0x{markers[sym]:x}" for key, sym in MARKERS.items() if sym in markers]
        self.qemu_args = ["-plugin", ",".join(a.replace(",", ",,") for a in args)]
        self._offset = 0
        self._classes: list[str] | None = None

    def loaded(self) -> bool:
        """The plugin writes its header as QEMU loads it."""
        return self.path.is_file() and self.path.stat().st_size > 0

    def next_record(self) -> InvokeRecord | None:
        """The record of the INVOKE answered last (the plugin writes it before the answer goes out)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                text = f.read().decode("ascii")
        except OSError:
            return None
        lines = text.splitlines(keepends=True)
        record, used = None, 0
        for i, line in enumerate(lines):
            used += len(line)
            words = line.split()
            if words and words[0] == "classes":
                self._classes = words[1:]
            elif words and words[0] == "end":
                record = self._parse(lines[:i])
                self._offset += used
                break
        return record

    def _parse(self, lines: list[str]) -> InvokeRecord:
        spans = [self._counts(l.split()) for l in lines if l.split()[0] in ("invoke", "layer")]
        return InvokeRecord(spans[0], spans[1:])

    def _counts(self, words: list[str]) -> Counts:
        return Counts(dict(zip(self._classes or (), map(int, words[2:]))))

    def close(self) -> None:
        self._dir.cleanup()


@dataclass
class CounterInfo:
    """What counts a run's instructions: "plugin" or "timer", and why not the plugin where it is not."""
    kind: str
    note: str = ""


def plugin_counter(board, elf: Path) -> tuple[PluginCounter | None, str]:
    """A counter for QEMU running `elf`, or (None, why the board's timer counts instead)."""
    if os.environ.get("MICROC_COUNTER") == "timer":
        return None, "MICROC_COUNTER=timer"
    markers = elf_symbols(elf, set(MARKERS.values()))
    if not {MARKERS["invoke_begin"], MARKERS["invoke_end"]} <= set(markers):  # layer marks: MC_PROFILE
        return None, f"{elf.name} has no instruction-count marks (mc_mark.h): rebuild it with this microc"
    lib, why = build_plugin()
    if lib is None:
        return None, why
    return PluginCounter(lib, board, markers), ""
