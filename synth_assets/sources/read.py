"""Read CSV, JSONL and Parquet sources into raw rows, keeping every row (good or bad) and its position."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import polars as pl

from synth_assets.hashing import canonical_json
from synth_assets.spec import SourceSpec

# Python's default (128 KiB) would abort the file on one huge field; length limits are a
# per-row validation with a quarantine reason instead.
csv.field_size_limit(1 << 30)


@dataclass
class RawRow:
    """One record as found in the file; `problem` is set when it could not even be parsed."""

    source_row: int
    values: dict[str, Any] | None
    raw: str
    problem: str | None = None


def _csv_rows(path: Path) -> Iterator[RawRow]:
    with open(path, "rb") as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return
        idx = 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RawRow(idx, None, "", f"unparseable CSV record: {exc}")
                idx += 1
                continue
            raw = canonical_json(fields)
            if not any(f.strip() for f in fields):
                yield RawRow(idx, None, raw, "empty row")
            elif len(fields) != len(header):
                yield RawRow(idx, None, raw, f"expected {len(header)} fields, found {len(fields)}")
            else:
                yield RawRow(idx, dict(zip(header, fields)), raw)
            idx += 1


def _jsonl_rows(path: Path) -> Iterator[RawRow]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for idx, line in enumerate(fh):
            raw = line.rstrip("\n")
            if not raw.strip():
                yield RawRow(idx, None, raw, "empty row")
                continue
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                yield RawRow(idx, None, raw, f"invalid JSON: {exc.msg} at column {exc.colno}")
                continue
            if not isinstance(value, dict):
                yield RawRow(idx, None, raw, f"expected a JSON object, found {type(value).__name__}")
            else:
                yield RawRow(idx, value, raw)


def _parquet_rows(path: Path) -> Iterator[RawRow]:
    for idx, row in enumerate(pl.read_parquet(path).iter_rows(named=True)):
        yield RawRow(idx, row, canonical_json(row))


def read_rows(src: SourceSpec) -> Iterator[RawRow]:
    """Every record of the source in file order; parse failures come back as rows with a problem."""
    path = Path(src.path)
    fmt = src.resolved_format
    if fmt == "csv":
        return _csv_rows(path)
    if fmt == "jsonl":
        return _jsonl_rows(path)
    return _parquet_rows(path)
