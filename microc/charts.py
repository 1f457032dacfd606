"""The report's pictures, drawn with matplotlib's Agg backend (no display needed) into PNG bytes that the
HTML embeds as base64, so the report opens offline as one file."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

COLORS = {"weights": "#4c72b0", "code": "#dd8452", "arena": "#55a868", "state": "#8172b3",
          "stack": "#c44e52", "rest": "#8c8c8c"}


THOUSANDS = FuncFormatter(lambda v, _: f"{v:,.0f}")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def layer_bars(layers: list[dict], metric: str, label: str) -> bytes:
    """One bar per layer (its `metric`), annotated with the layer's share of the total."""
    values = [l[metric] or 0 for l in layers]
    fig, ax = plt.subplots(figsize=(10, max(2.5, 0.32 * len(layers) + 1)))
    names = [f"{l['index']} {l['type']}" for l in layers]
    ax.barh(range(len(values)), values, color=COLORS["weights"])
    ax.set_yticks(range(len(values)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(label)
    ax.xaxis.set_major_formatter(THOUSANDS)
    for i, l in enumerate(layers):
        ax.text(values[i], i, f" {100 * l['share']:.1f}%", va="center", fontsize=7)
    ax.margins(x=0.12)
    ax.set_title(f"{label} per layer (share of the total)")
    return _png(fig)


def arena_map(arena: dict, steps: int) -> bytes:
    """Each buffer as a box: its lifetime (steps) across, its place in the arena up; the bytes alive at
    each step as a line, the layer-wise lower bound and the planned arena as horizontals, the peak step
    marked."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    palette = plt.get_cmap("tab20").colors
    for i, b in enumerate(arena["buffers"]):  # scratch buffers grey, tensors in turning colours
        ax.add_patch(Rectangle((b["first"], b["offset"]), b["last"] - b["first"] + 1, b["bytes"],
                               facecolor=COLORS["rest"] if b["scratch"] else palette[i % len(palette)],
                               edgecolor="black", linewidth=0.5, alpha=0.8))
    live = arena["live_bytes"]
    ax.step(range(len(live) + 1), live + live[-1:], where="post", color="black", linewidth=1,
            label="bytes alive at each step")
    ax.axhline(arena["arena_bytes"], color=COLORS["code"], linestyle="--",
               label=f"planned arena {arena['arena_bytes']:,} B")
    ax.axhline(arena["lower_bound_bytes"], color=COLORS["stack"], linestyle=":",
               label=f"layer-wise lower bound {arena['lower_bound_bytes']:,} B")
    ax.axvspan(arena["peak_step"], arena["peak_step"] + 1, color=COLORS["stack"], alpha=0.12,
               label=f"peak: step {arena['peak_step']}")
    if arena.get("patches"):  # the first layers run patch by patch (docs/memory.md)
        first, last = arena["patches"]["steps"]
        ax.axvspan(first, last + 1, color=COLORS["weights"], alpha=0.08,
                   label=f"{arena['patches']['patches']} patches: steps {first}-{last}")
    ax.set_xlim(0, steps + 1)
    ax.set_ylim(0, max(arena["arena_bytes"], arena["lower_bound_bytes"], 1) * 1.08)
    ax.set_xlabel("step (layer index; the last is after the final layer)")
    ax.set_ylabel("arena offset (bytes)")
    ax.yaxis.set_major_formatter(THOUSANDS)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.set_title("Arena: each buffer's lifetime against its offset")
    return _png(fig)


def memory_bars(memory: dict) -> bytes:
    """Flash and RAM as stacked bars of their parts (weights, code, arena, stack, the rest)."""
    fig, ax = plt.subplots(figsize=(10, 2.4))
    seen = set()
    for row, kind in enumerate(("flash", "ram")):
        left = 0
        for part, n in memory[kind]["parts"].items():
            ax.barh(row, n, left=left, color=COLORS[part], label=None if part in seen else part)
            seen.add(part)
            left += n
    ax.set_yticks([0, 1], ["flash", "RAM"])
    ax.invert_yaxis()
    ax.set_xlabel("bytes")
    ax.xaxis.set_major_formatter(THOUSANDS)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.set_title("Flash and RAM by part")
    return _png(fig)
