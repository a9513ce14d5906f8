"""Read CSV, JSONL and Parquet sources into raw rows, keeping every row (good or bad) and its position."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import polars as pl

from synth_assets.hashing import canonical_json
from synth_assets.spec import SourceSpec

# Python's default (128 KiB) would abort the file on one huge field; length limits are a
# per-row validation with a quarantine reason instead.
csv.field_size_limit(1 << 30)


PARQUET_BATCH_ROWS = 65_536
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _clean_text(value: str) -> tuple[str, bool]:
    """Text with undecodable bytes replaced by U+FFFD, and whether there were any.

    Files are read with `surrogateescape`, so invalid UTF-8 bytes show up as lone surrogates and
    can be told apart from a genuine U+FFFD character that a valid file may contain.
    """
    if not _UNDECODABLE.search(value):
        return value, False
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), True


def _clean_row(values: list[str] | dict[str, Any]) -> tuple[Any, bool]:
    bad = False
    if isinstance(values, list):
        out = []
        for v in values:
            v, b = _clean_text(v)
            out.append(v)
            bad |= b
        return out, bad
    cleaned = {}
    for k, v in values.items():
        if isinstance(v, str):
            v, b = _clean_text(v)
            bad |= b
        cleaned[k] = v
    return cleaned, bad


@dataclass
class RawRow:
    """One record as found in the file; `problem` is set when it could not even be parsed."""

    source_row: int
    values: dict[str, Any] | None
    raw: str
    problem: str | None = None


class _LineFeed:
    """The file's lines as the csv reader pulls them, keeping the current record's lines and first line number."""

    def __init__(self, text: io.TextIOBase) -> None:
        self._text = text
        self.record: list[str] = []
        self.first_line = 1
        self.exhausted = False

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        line = self._text.readline()
        if not line:
            self.exhausted = True
            raise StopIteration
        self.record.append(line)
        return line

    def next_record(self) -> None:
        self.first_line += len(self.record)
        self.record = []


# a quoted field up to (not including) its closing quote, doubled quotes inside; then the rest of a field
_QUOTED = re.compile(r'"[^"]*(?:""[^"]*)*')
_REST = re.compile(r"[^,\r\n]*")


def _unclosed_quote_line(feed: _LineFeed) -> int | None:
    """The line where the quoted field left open at the end of the file begins, if the last record has one.

    The csv module (not strict) reads an unclosed quote to the end of the file as one field; this
    re-reads that record's own text the way it does to find the quote that opened the field.
    """
    text = "".join(feed.record)
    i, opened = 0, None
    while i < len(text):
        if text[i] == '"':
            end = _QUOTED.match(text, i).end()
            if end == len(text):
                opened = i
                break
            i = end + 1
        i = _REST.match(text, i).end() + 1  # the rest of the field and the comma or newline after it
    if opened is None:
        return None
    seen = 0
    for n, line in enumerate(feed.record):
        seen += len(line)
        if opened < seen:
            return feed.first_line + n
    return None


def _csv_rows(path: Path) -> Iterator[RawRow]:
    with open(path, "rb") as fh:
        # utf-8-sig: spreadsheets save "CSV UTF-8" with a BOM, which would stick to the first column's name
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="surrogateescape", newline="")
        feed = _LineFeed(text)
        reader = csv.reader(feed)
        header = next(reader, None)
        if header is None:
            return
        header = _clean_row(header)[0]
        idx = 0
        while True:
            feed.next_record()
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RawRow(idx, None, "", f"unparseable CSV record: {exc}")
                idx += 1
                continue
            fields, undecodable = _clean_row(fields)
            raw = canonical_json(fields)
            # the reader asks for another line inside a record only when a quote is still open
            opened = _unclosed_quote_line(feed) if feed.exhausted else None
            if opened is not None:
                left = feed.first_line + len(feed.record) - opened
                yield RawRow(idx, None, raw, f"unclosed quote: the quoted field opened on line {opened} of {path} never closes, "
                                             f"so its {left} lines to the end of the file were read as one field; add the closing quote")
            elif undecodable:
                yield RawRow(idx, None, raw, "invalid UTF-8 bytes")
            elif not any(f.strip() for f in fields):
                yield RawRow(idx, None, raw, "empty row")
            elif len(fields) != len(header):
                yield RawRow(idx, None, raw, f"expected {len(header)} fields, found {len(fields)}")
            else:
                yield RawRow(idx, dict(zip(header, fields)), raw)
            idx += 1


def _jsonl_rows(path: Path) -> Iterator[RawRow]:
    with open(path, encoding="utf-8-sig", errors="surrogateescape") as fh:
        for idx, line in enumerate(fh):
            raw, undecodable = _clean_text(line.rstrip("\n"))
            if undecodable:
                yield RawRow(idx, None, raw, "invalid UTF-8 bytes")
                continue
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
    """A slice of rows at a time, so a million-row file is never in memory at once.

    polars reads each slice from the row groups that hold it; pyarrow's batch reader kept ~0.4 GB of
    decoded pages in its memory pool over a 900k-row file, polars' slices ~0.15 GB.
    """
    scan = pl.scan_parquet(path)
    rows = scan.select(pl.len()).collect().item()
    idx = 0
    for lo in range(0, rows, PARQUET_BATCH_ROWS):
        for row in scan.slice(lo, PARQUET_BATCH_ROWS).collect().iter_rows(named=True):
            yield RawRow(idx, row, canonical_json(row))
            idx += 1


def read_rows(src: SourceSpec) -> Iterator[RawRow]:
    """Every record of the source in file order; parse failures come back as rows with a problem."""
    path = Path(src.path)
    fmt = src.resolved_format
    if fmt == "csv":
        return _csv_rows(path)
    if fmt == "jsonl":
        return _jsonl_rows(path)
    return _parquet_rows(path)
