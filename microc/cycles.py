"""A cycle estimate from exact instruction counts: each CPU's timing table prices the instruction classes
that microc's QEMU plugin counts (microc/runner/plugin/mc_count.c). docs/cycles.md gives the tables'
sources and what the model ignores.

A table maps a class to its cycles. The plugin's classes: alu (everything not listed), load / store
(single; *_pipelined when right after another load or store single in straight-line code), ldm / stm
(LDM, STM, PUSH, POP, LDRD, STRD, VLDM, VPUSH...: the instruction) with ldm_regs / stm_regs (its
registers), mul (MUL), mla (MLA, MLS), mull (SMULL, UMULL), mlal (SMLAL, UMLAL), dsp (SMLAD, SXTB16, QADD,
SMULBB... one-cycle DSP and SIMD-within-a-register group), dsp_long (SMLALD...), div (SDIV, UDIV; RV32
div and rem), branch (every branch instruction, taken or not), table_branch (TBB, TBH), it, fp, fp_mac
(VMLA, VFMA...), fp_div (VDIV, VSQRT), mve / mve_mem (Helium vector arithmetic / vector loads and stores),
mve_overlapped (a vector instruction overlapping the previous one of the other group), and the events
taken / taken_indirect (a jump to an immediate / a register or loaded target: the pipeline refill).
"""
from __future__ import annotations

from dataclasses import dataclass

# The pipeline refill after a taken jump on the Cortex-M3 and M4: their TRMs give P = 1 to 3 cycles
# "depending on the alignment and width of the target instruction, and whether the processor manages to
# speculate the address early"; the model takes the middle.
P_M3_M4 = 2
# The TRMs give SDIV/UDIV 2 to 12 cycles, by operand values the plugin does not see; the middle.
DIV_M = 7

_M4 = {
    "alu": 1, "it": 1, "branch": 1, "taken": P_M3_M4, "taken_indirect": P_M3_M4,
    "load": 2, "load_pipelined": 1, "store": 2, "store_pipelined": 1,
    "ldm": 1, "ldm_regs": 1, "stm": 1, "stm_regs": 1,
    "mul": 1, "mla": 1, "mull": 1, "mlal": 1, "dsp": 1, "dsp_long": 1, "div": DIV_M,
    "table_branch": 2, "fp": 1, "fp_mac": 3, "fp_div": 14,
    "mve": 1, "mve_mem": 1, "mve_overlapped": 1,  # no MVE on these cores; priced as one issue slot
}

TABLES: dict[str, dict] = {
    "cortex-m4": {
        "source": "Cortex-M4 TRM (Arm DDI 0439B), 3.3.1 Table 3-1 Cortex-M4 instruction set summary; "
                  "FPU: 7.2.3 Table 7-1 FPU instruction set",
        "cycles": _M4,
    },
    "cortex-m3": {
        "source": "Cortex-M3 TRM (Arm DDI 0337I), 3.3.1 Table 3.1 Cortex-M3 instruction set summary "
                  "(ranges by operand values: the middle)",
        "cycles": {**_M4, "mla": 2, "mull": 4, "mlal": 5.5},
    },
    "cortex-m33": {
        "source": "Cortex-M33 TRM (Arm 100230) gives no instruction timing table; the M33 is a 3-stage "
                  "in-order Armv8-M Mainline core with the DSP extension like the M4, whose Table 3-1 "
                  "figures are used",
        "cycles": dict(_M4),
    },
    "cortex-m7": {
        "source": "Cortex-M7 TRM (Arm DDI 0489) gives no instruction timing table; a 6-stage core with "
                  "64-bit loads and a branch predictor: one cycle per instruction, loads and stores "
                  "one cycle, LDM/STM two registers per cycle, taken jumps 1 cycle (predicted), dual issue "
                  "not modelled",
        "cycles": {**_M4, "load": 1, "store": 1, "ldm_regs": 0.5, "stm_regs": 0.5, "taken": 1,
                   "taken_indirect": 1, "table_branch": 2, "fp_mac": 1, "fp_div": 14},
    },
    "cortex-m55": {
        "source": "Cortex-M55 TRM (Arm 101051) gives no instruction timing table; Cortex-M55 Software "
                  "Optimization Guide: MVE is dual-beat (a 128-bit vector instruction, four beats, takes "
                  "2 cycles) and an instruction of the other group (memory vs arithmetic) overlaps the "
                  "previous one by two beats; scalar code as the M4's Table 3-1",
        "cycles": {**_M4, "mve": 2, "mve_mem": 2, "mve_overlapped": 1},
    },
    "rv32": {
        "source": "a simple in-order RV32IMAC pipeline (no Arm manual applies): one cycle per "
                  "instruction, loads 2, taken branches and jumps +2 (refill, no prediction), "
                  "MUL 1, DIV/REM 34 (bit-serial divider), as the SiFive E31 core manual describes",
        "cycles": {**_M4, "load_pipelined": 2, "store": 1, "store_pipelined": 1, "div": 34, "taken": 2,
                   "taken_indirect": 2},
    },
}


def cpu_of(board) -> str | None:
    """The board's CPU as a table key: -mcpu= of its compiler flags, or rv32 for 32-bit RISC-V."""
    for flag in board.toolchain.cflags:
        if flag.startswith("-mcpu="):
            return flag.split("=", 1)[1]
        if flag.startswith("-march=rv32"):
            return "rv32"
    return None


@dataclass(frozen=True)
class TimingModel:
    cpu: str | None
    table: dict | None

    @classmethod
    def for_board(cls, board) -> "TimingModel":
        cpu = cpu_of(board)
        return cls(cpu, TABLES.get(cpu, {}).get("cycles"))

    def cycles(self, by_class: dict[str, int]) -> int | None:
        """Estimated cycles of a span's class counts; None where the CPU has no table."""
        if self.table is None:
            return None
        return round(sum(self.table[c] * n for c, n in by_class.items()))
