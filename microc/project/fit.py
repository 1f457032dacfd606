"""Refuse, at compile time, a model that cannot fit its board's memory."""
from __future__ import annotations

from microc.errors import DoesNotFit

# What the firmware needs beside the weights and the arena, an upper estimate from the mps2-an386 builds of
# the shared models: code plus the layers' parameter structs took 5.5 KB (AD, 10 layers) to 13.6 KB
# (VWW, 31 layers); static data besides the arena is about 1 KB (the runner's receive buffer).
CODE_BASE_BYTES = 12 * 1024
CODE_PER_LAYER_BYTES = 128
RUNTIME_DATA_BYTES = 2 * 1024


def memory_needs(model, board, extra_rodata: int = 0) -> dict[str, int]:
    """Bytes the firmware needs in each placement kind (code, rodata, data, arena, stack)."""
    layers = len(model.metadata["layers"])
    return {"code": CODE_BASE_BYTES + CODE_PER_LAYER_BYTES * layers,
            "rodata": model.metadata["weight_bytes"] + extra_rodata,
            "data": RUNTIME_DATA_BYTES,
            "arena": model.metadata["arena_bytes"],
            "stack": board.stack_bytes}


_LABELS = {"code": "code estimate", "rodata": "weights", "data": "runtime data", "arena": "arena",
           "stack": "stack"}


def check_fits(model, board, extra_rodata: int = 0) -> None:
    """DoesNotFit naming the bytes needed and available in the first region that overflows. A board
    without a memory map (the host) always fits."""
    if not board.memory:
        return
    _check_largest_array(model, board)
    needs = memory_needs(model, board, extra_rodata)
    by_region: dict[str, list[str]] = {}
    for kind, region in board.placement.items():
        by_region.setdefault(region, []).append(kind)
    for region, kinds in by_region.items():
        kinds = [k for k in _LABELS if k in kinds]
        total = sum(needs[k] for k in kinds)
        size = board.memory[region].size
        if total > size:
            parts = " + ".join(f"{_LABELS[k]} {needs[k]:,}" for k in kinds)
            label = "RAM" if "arena" in kinds else "flash" if "rodata" in kinds else region
            raise DoesNotFit(f"model needs {total:,} bytes of {label} ({parts}), {board.name} has "
                             f"{size:,} in '{region}': exceeds by {total - size:,} bytes")


def _check_largest_array(model, board) -> None:
    """A board's `max_array_bytes` (AVR: 32,767, its largest object) against the largest constant array;
    microc does not split arrays."""
    limit = board.features.get("max_array_bytes")
    largest = model.metadata.get("largest_array", {})
    if limit is not None and largest.get("bytes", 0) > limit:
        raise DoesNotFit(f"constant array {largest['name']} holds {largest['bytes']:,} bytes, {board.name} "
                         f"allows at most {limit:,} in one array (microc does not split arrays)")
