"""Seed and pool rows that are eval items: quarantined at ingestion, before the teacher sees any of them.

An eval item among the labelled seeds turns every eval score into a memory test, and one in the
pool costs a teacher call only to be thrown out by decontamination later. Exact copies (after the
project's text normalisation) are caught here; near copies are the decontamination filter's job.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from synth_assets.sources.validate import normalise

_SLICE_ROWS = 100_000


def split_eval_overlap(seeds: pl.DataFrame, evals: pl.DataFrame) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """(seed rows to keep, quarantine rows for seeds whose text is an eval item's, naming that item)."""
    where: dict[str, str] = {}
    for text, source_file, source_row in evals.select("input", "source_file", "source_row").iter_rows():
        where.setdefault(normalise(text), f"{source_file} row {source_row}")
    found: list[str | None] = []
    for lo in range(0, seeds.height, _SLICE_ROWS):  # a slice of texts as Python strings at a time
        found += [where.get(normalise(t)) for t in seeds["input"].slice(lo, _SLICE_ROWS).to_list()]
    if all(f is None for f in found):  # the usual case: the seeds as they are, not a filtered copy
        return seeds, []
    marked = seeds.with_columns(pl.Series("_eval", found, dtype=pl.String))
    quarantined = [{"source_file": row["source_file"], "source_row": row["source_row"],
                    "reason": f"also an eval item ({row['_eval']}): held-out rows are never training data", "raw": row["input"]}
                   for row in marked.filter(pl.col("_eval").is_not_null()).iter_rows(named=True)]
    return marked.filter(pl.col("_eval").is_null()).drop("_eval"), quarantined
