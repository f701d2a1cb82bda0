"""Changes-per-month chart, PNG and SVG, byte-stable for the same data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on CI or servers
import matplotlib.pyplot as plt

from bindbot.fsutil import write_atomic

COLOURS = {"breaking": "#c0392b", "needs-review": "#e6a23c", "additive": "#2e8b57"}


def write_chart(
    monthly: Sequence[tuple[str, dict[str, int]]], title: str, stem: Path
) -> list[Path]:
    """Stacked bars per month; writes `<stem>.png` and `<stem>.svg` atomically."""
    plt.rcParams["svg.hashsalt"] = "bindbot"  # stable ids inside the SVG
    months = [m for m, _ in monthly]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.18 * len(months) + 2), 3.6), dpi=100)
    bottom = [0] * len(months)
    for level in ("breaking", "needs-review", "additive"):
        values = [counts[level] for _, counts in monthly]
        ax.bar(range(len(months)), values, bottom=bottom, color=COLOURS[level], label=level)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    step = max(1, len(months) // 24)
    ax.set_xticks(range(0, len(months), step))
    ax.set_xticklabels(months[::step], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("API changes")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    written = []
    for ext, meta in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
        path = stem.with_suffix(f".{ext}")
        tmp = path.with_name(f".{path.name}.render")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(tmp, format=ext, metadata=meta)
        write_atomic(path, tmp.read_bytes())
        tmp.unlink()
        written.append(path)
    plt.close(fig)
    return written
