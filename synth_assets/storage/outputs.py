"""How every asset reports a table to Dagster: content data version, row count, preview."""

from __future__ import annotations

import warnings
from typing import Any

import polars as pl
from dagster import BetaWarning, DataVersion, MetadataValue, Output

from synth_assets.storage.parquet import Table, table_hash

PREVIEW_ROWS = 5
PREVIEW_CHARS = 80


def preview_markdown(df: pl.DataFrame, rows: int = PREVIEW_ROWS) -> str:
    """A small markdown table for the UI; long texts are cut so the preview stays readable."""
    head = df.head(rows).with_columns(
        [(_json_text(c) if t.is_nested() else pl.col(c).cast(pl.String)).str.slice(0, PREVIEW_CHARS).alias(c)
         for c, t in df.schema.items()]
    )
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    for row in head.iter_rows():
        cells = ["" if v is None else str(v).replace("|", "\\|").replace("\n", " ") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _json_text(column: str) -> pl.Expr:
    """A list or struct column (train_set.target_probs) as JSON text, since polars has no string cast for it."""
    # the value wrapped as {"v":...}, the wrapper cut off again
    return pl.struct(pl.col(column).alias("v")).struct.json_encode().str.slice(5).str.head(-1)


def table_output(df: Table, output_name: str = "result", **metadata: Any) -> Output:
    """Output whose DataVersion is the table's content hash, so unchanged content is not 'changed'.

    A TableParts or TableBeside hashes as the one frame of its rows would: the hash does not depend on row order.
    """
    md: dict[str, Any] = {
        "dagster/row_count": MetadataValue.int(df.height),
        "preview": MetadataValue.md(preview_markdown(df if isinstance(df, pl.DataFrame) else df.head(PREVIEW_ROWS))),
    }
    md.update(metadata)
    with warnings.catch_warnings():  # data_version is what the caching contract rests on; it is stable in use
        warnings.simplefilter("ignore", BetaWarning)
        return Output(df, output_name=output_name, data_version=DataVersion(table_hash(df)), metadata=md)
