"""Property: every record of a seed file, however malformed, ends in seeds or quarantine; none is lost, nothing crashes."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from spec_helpers import DATA
from synth_assets.sources.validate import split_sources
from synth_assets.spec import PipelineSpec

SETTINGS = settings(max_examples=80, deadline=None)
WORKDIR = Path(tempfile.mkdtemp(prefix="read-properties-"))
LABELS = ["great", "other"]
FIELD = st.text(max_size=30) | st.sampled_from(["great", "other", " other ", "", "  ", "a review", "A  review"])
JSON_VALUE = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.sampled_from(LABELS) | st.lists(st.integers(), max_size=2)
NO_NEWLINE = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))


def _split(content: bytes, fmt: str):
    path = WORKDIR / f"seeds.{fmt}"
    path.write_bytes(content)
    spec = PipelineSpec.model_validate({
        "name": "prop", "instruction": "Is it great?", "labels": LABELS,
        "seeds": [{"path": str(path), "input": "review", "target": "score", "format": fmt}],
        "eval": {"path": str(DATA / "test.csv"), "input": "review", "target": "score", "format": "csv"},
        "strategies": [{"name": "label"}],
    })
    return split_sources(spec, list(spec.seeds), "seed_id")


def _rows_accounted(split, n: int | None = None) -> list[int]:
    """Source rows of seeds + quarantine: each once, numbered 0..k-1 (k = n when the record count is known)."""
    rows = sorted([r["source_row"] for r in split.rows] + [q["source_row"] for q in split.quarantine])
    assert rows == list(range(len(rows) if n is None else n))
    assert all(q["reason"] for q in split.quarantine)
    return rows


def _valid(text: object, target: object) -> bool:
    return isinstance(text, str) and bool(text.strip()) and isinstance(target, str) and target.strip() in LABELS


def _check_good_rows(split, records: list[tuple[object, object] | None]) -> None:
    """A record with text and a known label is a seed, or quarantined only as a duplicate of an earlier one;
    one with a list or object where text belongs is quarantined; numbers and booleans may read as text."""
    seeds = {r["source_row"]: r for r in split.rows}
    reasons = {q["source_row"]: q["reason"] for q in split.quarantine}
    for i, record in enumerate(records):
        if record is not None and _valid(*record):
            text, target = record
            if i in seeds:
                assert (seeds[i]["input"], seeds[i]["target"]) == (text.strip(), target.strip())
            else:
                assert reasons[i].startswith("duplicate of"), (record, reasons[i])
        elif record is not None and any(isinstance(v, (list, dict)) for v in record):
            assert "not text" in reasons[i], record
        elif record is None or not any(isinstance(v, (bool, int, float)) for v in record):
            assert i in reasons, record


@SETTINGS
@given(st.lists(st.lists(FIELD, max_size=4), max_size=12))
def test_every_csv_record_is_a_seed_or_quarantined(rows: list[list[str]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["review", "score"])
    writer.writerows(rows)
    split = _split(buf.getvalue().encode("utf-8"), "csv")
    _rows_accounted(split, len(rows))
    _check_good_rows(split, [tuple(r) if len(r) == 2 else None for r in rows])


@SETTINGS
@given(st.binary(max_size=300), st.booleans())
def test_random_csv_bytes_never_crash(content: bytes, with_header: bool) -> None:
    _rows_accounted(_split((b"review,score\r\n" if with_header else b"") + content, "csv"))


@st.composite
def jsonl_line(draw) -> tuple[bytes, tuple[object, object] | None]:
    """A JSON object with review/score values of any JSON type, or a line of garbage bytes."""
    if draw(st.booleans()):
        text, target = draw(JSON_VALUE), draw(JSON_VALUE)
        obj = {"review": text, "score": target, **draw(st.dictionaries(st.text(max_size=5), JSON_VALUE, max_size=2))}
        obj["review"], obj["score"] = text, target
        return json.dumps(obj, ensure_ascii=draw(st.booleans())).encode("utf-8"), (text, target)
    return draw(NO_NEWLINE), None


@SETTINGS
@given(st.lists(jsonl_line(), max_size=12))
def test_every_jsonl_line_is_a_seed_or_quarantined(lines: list[tuple[bytes, tuple | None]]) -> None:
    content = b"".join(line + b"\n" for line, _ in lines)
    split = _split(content, "jsonl")
    _rows_accounted(split, len(lines))
    _check_good_rows(split, [record for _, record in lines])


@SETTINGS
@given(st.binary(max_size=300))
def test_random_jsonl_bytes_never_crash(content: bytes) -> None:
    # a line is what Python's text mode calls one: \n, \r and \r\n end it
    expected = len(content.replace(b"\r\n", b"\n").replace(b"\r", b"\n").splitlines()) if content else 0
    _rows_accounted(_split(content, "jsonl"), expected)
