"""An MT3620 real-time core for tests: Unicorn (an instruction-set emulator, Cortex-M4) with the core's
memory map (TCM, SYSRAM, XIP flash, as Microsoft's sample linker.ld has them) and a model of its UART
(registers as platform/mt3620_m4.c uses them: RBR/THR, LCR, LSR). It loads the ELF's segments as the
Azure Sphere OS would, fills RAM with garbage (the firmware must clear its own .bss), starts at the reset
vector with the stack pointer from entry 0, and stops when the firmware calls mc_exit.

    python mt3620_emulator.py FIRMWARE.elf              UART output on stdout, no input
    python mt3620_emulator.py FIRMWARE.elf --pty        UART on a new pseudo-terminal; prints its path

Exit status: the code passed to mc_exit; 3 if the firmware ran off (an emulator error or instruction cap).
No cycle model: DWT reads return 0."""
from __future__ import annotations

import os
import select
import subprocess
import sys
import tty

from unicorn import (UC_ARCH_ARM, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE, UC_MODE_MCLASS, UC_MODE_THUMB, Uc,
                     UcError)
from unicorn.arm_const import UC_ARM_REG_PC, UC_ARM_REG_R0, UC_ARM_REG_SP, UC_CPU_ARM_CORTEX_M4

REGIONS = {"tcm": (0x00100000, 0x30000), "sysram": (0x22000000, 0x10000), "flash": (0x10000000, 0x100000),
           "uart": (0x21040000, 0x1000), "dwt": (0xE0001000, 0x1000), "scs": (0xE000E000, 0x1000)}
UART = REGIONS["uart"][0]
RBR_THR, LCR, LSR = UART + 0x00, UART + 0x0C, UART + 0x14
LSR_DATA_READY, LSR_THR_EMPTY = 0x01, 0x20
MAX_INSTRUCTIONS = 2_000_000_000


def _segments(elf: str):
    out = subprocess.run(["arm-none-eabi-readelf", "-lW", elf], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            yield int(f[1], 16), int(f[2], 16), int(f[4], 16)


def _symbol(elf: str, name: str) -> int:
    out = subprocess.run(["arm-none-eabi-nm", elf], capture_output=True, text=True, check=True).stdout
    return next(int(f[0], 16) for f in (l.split() for l in out.splitlines()) if f[-1] == name)


class Uart:
    """The UART's data path: bytes out to `write`, bytes in from `fd` (None: no input)."""

    def __init__(self, uc: Uc, write, fd: int | None):
        self.uc, self.write, self.fd, self.pending = uc, write, fd, bytearray()
        uc.hook_add(UC_HOOK_MEM_READ, self.on_read, begin=UART, end=UART + 0xFFF)
        uc.hook_add(UC_HOOK_MEM_WRITE, self.on_write, begin=UART, end=UART + 0xFFF)

    def divisor_latch(self) -> bool:
        return bool(self.uc.mem_read(LCR, 1)[0] & 0x80)

    def on_read(self, uc, access, address, size, value, data) -> None:
        """Runs before the read: set the register the firmware is about to read."""
        if address == LSR:
            if not self.pending and self.fd is not None:
                ready, _, _ = select.select([self.fd], [], [], 0.002)  # the firmware is polling: wait a bit
                if ready:
                    self.pending += os.read(self.fd, 4096)
            lsr = LSR_THR_EMPTY | (LSR_DATA_READY if self.pending else 0)
            uc.mem_write(LSR, lsr.to_bytes(4, "little"))
        elif address == RBR_THR and not self.divisor_latch() and self.pending:
            uc.mem_write(RBR_THR, bytes(self.pending[:1]).ljust(4, b"\0"))
            del self.pending[:1]

    def on_write(self, uc, access, address, size, value, data) -> None:
        if address == RBR_THR and not self.divisor_latch():
            self.write(bytes([value & 0xFF]))


def run(elf: str, write, fd: int | None = None) -> int:
    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
    uc.ctl_set_cpu_model(UC_CPU_ARM_CORTEX_M4)
    for base, size in REGIONS.values():
        uc.mem_map(base, size)
    for name in ("tcm", "sysram"):
        base, size = REGIONS[name]
        uc.mem_write(base, b"\xa5" * size)
    image = open(elf, "rb").read()
    for offset, address, size in _segments(elf):
        uc.mem_write(address, image[offset:offset + size])
    Uart(uc, write, fd)
    vectors = uc.mem_read(REGIONS["flash"][0], 8)
    uc.reg_write(UC_ARM_REG_SP, int.from_bytes(vectors[:4], "little"))
    exit_at = _symbol(elf, "mc_exit")
    try:
        uc.emu_start(int.from_bytes(vectors[4:], "little"), exit_at, count=MAX_INSTRUCTIONS)
    except UcError as e:
        sys.stderr.write(f"emulator: {e} at pc 0x{uc.reg_read(UC_ARM_REG_PC):08x}\n")
        return 3
    if uc.reg_read(UC_ARM_REG_PC) != exit_at:
        sys.stderr.write("emulator: instruction cap reached\n")
        return 3
    return uc.reg_read(UC_ARM_REG_R0)


def main(argv: list[str]) -> int:
    elf = argv[0]
    if "--pty" not in argv:
        def out(b: bytes) -> None:
            sys.stdout.buffer.write(b)
            sys.stdout.buffer.flush()
        return run(elf, out)
    master, slave = os.openpty()
    tty.setraw(slave)
    print(os.ttyname(slave), flush=True)
    return run(elf, lambda b: os.write(master, b), master)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
