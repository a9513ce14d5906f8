"""Small PNG charts embedded in Markdown metadata, so the Dagster UI shows them beside each table.

Dagster renders Markdown metadata with `data:` image sources allowed; a chart inlined this way
needs no file server and travels with the materialisation event. Charts are drawn with
matplotlib's object API (no pyplot global state) and kept to a few tens of KB.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib is imported when a chart is drawn, not when assets are defined
    from matplotlib.figure import Figure

MAX_PNG_BYTES = 100_000
SIZE_IN = (5.0, 2.4)
DPI = 80
COLOURS = {"accepted": "#2b8a3e", "rejected": "#c92a2a"}


def image_markdown(png: bytes, alt: str) -> str:
    """Markdown that shows the PNG inline; the alt text is what a reader sees if images are off."""
    if len(png) > MAX_PNG_BYTES:
        raise ValueError(f"chart {alt!r} is {len(png)} bytes; metadata charts must stay under {MAX_PNG_BYTES}")
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def _figure() -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE_IN, dpi=DPI, layout="constrained")
    fig.patch.set_facecolor("white")
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    # no timestamp in the PNG: the same data gives the same bytes
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def length_histogram(accepted: list[int], rejected: list[int], bins: int = 20) -> bytes:
    """Text lengths of accepted vs rejected rows on shared bins: shows what the filters cut."""
    import numpy as np

    fig = _figure()
    ax = fig.add_subplot()
    both = [*accepted, *rejected]
    edges = np.histogram_bin_edges(both if both else [0, 1], bins=bins)
    for name, values in (("accepted", accepted), ("rejected", rejected)):
        ax.hist(values, bins=edges, alpha=0.6, color=COLOURS[name], label=f"{name} ({len(values)})")
    ax.set_xlabel("characters")
    ax.set_ylabel("rows")
    ax.set_title("length of accepted vs rejected expansions", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    return _png(fig)


def metric_bars(scores: dict[str, dict[str, float | None]], title: str) -> bytes:
    """Horizontal bars, one row per model and one bar per metric, each labelled with its value."""
    import numpy as np

    models = list(scores)
    metrics = sorted({m for per_model in scores.values() for m in per_model})
    fig = _figure()
    ax = fig.add_subplot()
    height = 0.8 / max(len(metrics), 1)
    y = np.arange(len(models))
    for i, metric in enumerate(metrics):
        values = [scores[model].get(metric) for model in models]
        # a score that could not be computed (null) is drawn as no bar, labelled n/a, never as a 0
        bars = ax.barh(y + i * height - 0.4 + height / 2, [v or 0.0 for v in values], height, label=metric)
        ax.bar_label(bars, labels=["n/a" if v is None else f"{v:.3f}" for v in values], fontsize=7, padding=2)
    ax.set_yticks(y, models, fontsize=8)
    ax.invert_yaxis()  # first model on top, in the order given
    ax.set_xlim(0, 1.15)
    ax.set_title(title, fontsize=10)
    if metrics:
        ax.legend(fontsize=7, frameon=False, loc="lower right")
    return _png(fig)
