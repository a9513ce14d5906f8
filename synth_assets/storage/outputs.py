"""How every asset reports a table to Dagster: content data version, row count, preview."""

from __future__ import annotations

import warnings
from typing import Any

import polars as pl
from dagster import BetaWarning, DataVersion, MetadataValue, Output

from synth_assets.hashing import frame_hash

PREVIEW_ROWS = 5
PREVIEW_CHARS = 80


def preview_markdown(df: pl.DataFrame, rows: int = PREVIEW_ROWS) -> str:
    """A small markdown table for the UI; long texts are cut so the preview stays readable."""
    head = df.head(rows).with_columns(
        [pl.col(c).cast(pl.String).str.slice(0, PREVIEW_CHARS) for c in df.columns]
    )
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    for row in head.iter_rows():
        cells = ["" if v is None else str(v).replace("|", "\\|").replace("\n", " ") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table_output(df: pl.DataFrame, output_name: str = "result", **metadata: Any) -> Output:
    """Output whose DataVersion is the table's content hash, so unchanged content is not 'changed'."""
    md: dict[str, Any] = {
        "dagster/row_count": MetadataValue.int(df.height),
        "preview": MetadataValue.md(preview_markdown(df)),
    }
    md.update(metadata)
    with warnings.catch_warnings():  # data_version is what the caching contract rests on; it is stable in use
        warnings.simplefilter("ignore", BetaWarning)
        return Output(df, output_name=output_name, data_version=DataVersion(frame_hash(df)), metadata=md)
