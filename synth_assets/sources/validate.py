"""Split raw rows into clean records and quarantined ones, each rejection with a readable reason."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from synth_assets.answers import extract_number
from synth_assets.hashing import stable_hash
from synth_assets.sources.read import read_rows
from synth_assets.spec import PipelineSpec, SourceSpec

QUARANTINE_SCHEMA = {"source_file": pl.String, "source_row": pl.Int64, "reason": pl.String, "raw": pl.String}
_WS = re.compile(r"\s+")


def normalise(text: str) -> str:
    """The form two texts must share to count as the same row (case and spacing ignored)."""
    return _WS.sub(" ", text).strip().lower()


def row_id(text: str, target: str | None) -> str:
    """Stable id of a (text, target) pair: the same content gets the same id in every run."""
    return stable_hash(normalise(text), target)


# clean rows kept as Python dicts at a time: each full batch becomes a frame, so a million seed rows are
# compact columns, not a million dicts (~1 KB each)
FRAME_ROWS = 20_000


def clean_schema(id_column: str) -> dict[str, pl.DataType]:
    """The columns of a source's clean rows: seeds (seed_id) and eval_set (eval_id)."""
    return {id_column: pl.String, "input": pl.String, "target": pl.String, "source_file": pl.String, "source_row": pl.Int64}


@dataclass
class Split:
    """Clean rows (as frames of FRAME_ROWS) and rejected rows of one or more sources."""

    id_column: str
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    frames: list[pl.DataFrame] = field(default_factory=list)
    _pending: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: dict[str, Any]) -> None:
        self._pending.append(row)
        if len(self._pending) >= FRAME_ROWS:
            self.frames.append(pl.DataFrame(self._pending, schema=clean_schema(self.id_column)))
            self._pending = []

    def frame(self) -> pl.DataFrame:
        """Every clean row, in file order (the frames as chunks of one frame: nothing is copied)."""
        return pl.concat([*self.frames, pl.DataFrame(self._pending, schema=clean_schema(self.id_column))], rechunk=False)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Every clean row as a dict (small sources and tests)."""
        return self.frame().to_dicts()


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN from Parquet
        return None
    if isinstance(value, bool):  # JSON's spelling, as the file has it, not Python's True/False
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {list: "list", dict: "JSON object"}.get(type(value), type(value).__name__)


def _not_text(src: SourceSpec, values: dict[str, Any]) -> str | None:
    """A value that is not text where text belongs (JSONL, Parquet) is quarantined rather than turned into its repr.

    The input must be a string: `12345` or `true` is a broken export, not a review. A target may
    be a number or a boolean (a math answer, a `true`/`false` label), never a list or an object.
    """
    value = values.get(src.input)
    if value is not None and not isinstance(value, str):
        return f"column {src.input!r} holds a {_type_name(value)}, not text"
    value = values.get(src.target) if src.target else None
    if isinstance(value, (list, dict)):
        return f"column {src.target!r} holds a {_type_name(value)}, not text"
    return None


def _problem(spec: PipelineSpec, src: SourceSpec, text: str | None, target: str | None) -> str | None:
    if text is None or not text.strip():
        return f"empty input (column {src.input!r})"
    if len(text) > spec.max_input_chars:
        return f"input longer than max_input_chars={spec.max_input_chars} ({len(text)} chars)"
    if src.target is not None:
        if target is None or not target.strip():
            return f"missing target (column {src.target!r})"
        if spec.task == "classification" and target.strip() not in spec.labels:
            return f"target {target.strip()!r} not in labels {spec.labels}"
        if spec.task == "math" and extract_number(target) is None:
            return f"target {target.strip()!r} holds no numeric answer (column {src.target!r})"
    return None


def split_sources(spec: PipelineSpec, sources: list[SourceSpec], id_column: str) -> Split:
    """Validate every row of the sources; duplicates of an earlier row are quarantined, not dropped."""
    out = Split(id_column)
    # row id -> where it was first seen, packed as (source index << 40) + row: an int, not a string, per clean row
    first_seen: dict[str, int] = {}
    for i, src in enumerate(sources):
        for raw in read_rows(src):
            base = {"source_file": src.path, "source_row": raw.source_row}
            values = raw.values or {}
            text, target = _as_text(values.get(src.input)), _as_text(values.get(src.target)) if src.target else None
            reason = raw.problem or _not_text(src, values) or _problem(spec, src, text, target)
            if reason is None:
                text, target = text.strip(), target.strip() if target else None
                rid = row_id(text, target)
                if rid in first_seen:
                    where = first_seen[rid]
                    reason = f"duplicate of {sources[where >> 40].path} row {where & ((1 << 40) - 1)}"
                else:
                    first_seen[rid] = (i << 40) + raw.source_row
                    out.add({id_column: rid, "input": text, "target": target, **base})
                    continue
            out.quarantine.append({**base, "reason": reason, "raw": raw.raw})
    return out


def quarantine_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=QUARANTINE_SCHEMA)
