"""Seed and pool rows that are eval items: quarantined at ingestion, before the teacher sees any of them.

An eval item among the labelled seeds turns every eval score into a memory test, and one in the
pool costs a teacher call only to be thrown out by decontamination later. Exact copies (after the
project's text normalisation) are caught here; near copies are the decontamination filter's job.
"""

from __future__ import annotations

from typing import Any

from synth_assets.sources.validate import normalise


def split_eval_overlap(seeds: list[dict[str, Any]], evals: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(seed rows to keep, quarantine rows for seeds whose text is an eval item's, naming that item)."""
    where = {}
    for row in evals:
        where.setdefault(normalise(row["input"]), f"{row['source_file']} row {row['source_row']}")
    kept, quarantined = [], []
    for row in seeds:
        found = where.get(normalise(row["input"]))
        if found is None:
            kept.append(row)
        else:
            quarantined.append({"source_file": row["source_file"], "source_row": row["source_row"],
                                "reason": f"also an eval item ({found}): held-out rows are never training data",
                                "raw": row["input"]})
    return kept, quarantined
