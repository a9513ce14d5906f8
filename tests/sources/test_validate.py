"""Malformed seed rows are quarantined with a reason; nothing is lost: seeds + quarantine = input rows."""

from __future__ import annotations

import json
from pathlib import Path

from spec_helpers import write_spec
from synth_assets.sources.validate import split_sources
from synth_assets.spec import load_spec


def _write_bad_csv(path: Path) -> int:
    rows = [
        b"review,score\n",
        b"Loved every bite of it,great\n",
        b"Tasted stale and old,other\n",
        b",great\n",  # empty input
        b"Fine but nothing special,\n",  # missing target
        b"Arrived crushed,terrible\n",  # label not in label set
        b"Broken \xff\xfe bytes here,great\n",  # invalid UTF-8
        b"one,two,three\n",  # too many fields
        b"LOVED   every bite of it,great\n",  # duplicate after normalisation
        b"\n",
        b"x" * 5000 + b",great\n",  # huge row
        b'"Quoted, with comma",other\n',
    ]
    path.write_bytes(b"".join(rows))
    return len(rows) - 1  # data rows: everything but the header, blank line included


def test_csv_quarantine_reasons(tmp_path: Path) -> None:
    seeds = tmp_path / "bad.csv"
    n = _write_bad_csv(seeds)
    spec = load_spec(write_spec(tmp_path, seeds=[{"path": str(seeds), "input": "review", "target": "score"}], max_input_chars=1000))
    out = split_sources(spec, list(spec.seeds), "seed_id")
    assert len(out.rows) + len(out.quarantine) == n
    assert [r["input"] for r in out.rows] == ["Loved every bite of it", "Tasted stale and old", "Quoted, with comma"]
    reasons = {q["source_row"]: q["reason"] for q in out.quarantine}
    assert reasons[2].startswith("empty input")
    assert reasons[3].startswith("missing target")
    assert "not in labels" in reasons[4]
    assert reasons[5] == "invalid UTF-8 bytes"
    assert reasons[6] == "expected 2 fields, found 3"
    assert reasons[7].startswith("duplicate of") and "row 0" in reasons[7]
    assert reasons[8] == "empty row"
    assert reasons[9].startswith("input longer than max_input_chars=1000")
    # the raw row is kept so nothing a user supplied is lost
    assert all(q["raw"] for q in out.quarantine)


def test_jsonl_bad_lines(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.jsonl"
    lines = [
        json.dumps({"text": "Great snack for kids", "label": "great"}),
        "{not json",
        json.dumps(["a", "list"]),
        "",
        json.dumps({"text": 42, "label": "other"}),  # a number is not text
        json.dumps({"label": "other"}),  # no input column in this row
    ]
    seeds.write_text("\n".join(lines) + "\n")
    spec = load_spec(write_spec(tmp_path, seeds=[{"path": str(seeds), "input": "text", "target": "label"}]))
    out = split_sources(spec, list(spec.seeds), "seed_id")
    assert len(out.rows) + len(out.quarantine) == len(lines)
    assert [r["input"] for r in out.rows] == ["Great snack for kids"]
    reasons = {q["source_row"]: q["reason"] for q in out.quarantine}
    assert reasons[1].startswith("invalid JSON")
    assert reasons[2] == "expected a JSON object, found list"
    assert reasons[3] == "empty row"
    assert reasons[4] == "column 'text' holds a number, not text"
    assert reasons[5].startswith("empty input")


def test_parquet_source_and_stable_ids(tmp_path: Path) -> None:
    import polars as pl

    path = tmp_path / "seeds.parquet"
    pl.DataFrame({"t": ["Good value", None, "Bad taste"], "y": ["great", "other", "other"]}).write_parquet(path)
    spec = load_spec(write_spec(tmp_path, seeds=[{"path": str(path), "input": "t", "target": "y"}]))
    first = split_sources(spec, list(spec.seeds), "seed_id")
    again = split_sources(spec, list(spec.seeds), "seed_id")
    assert [r["seed_id"] for r in first.rows] == [r["seed_id"] for r in again.rows]
    assert len(first.rows) == 2 and first.quarantine[0]["source_row"] == 1


def test_genuine_replacement_character_is_not_invalid_utf8(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.csv"
    seeds.write_bytes("review,score\nThe label said caf\ufffd but it was fine,great\n".encode("utf-8") + b"caf\xe9 au lait,great\n")
    spec = load_spec(write_spec(tmp_path, seeds=[{"path": str(seeds), "input": "review", "target": "score"}]))
    out = split_sources(spec, list(spec.seeds), "seed_id")
    assert [r["source_row"] for r in out.rows] == [0]
    assert out.quarantine[0]["reason"] == "invalid UTF-8 bytes" and "caf\ufffd au lait" in out.quarantine[0]["raw"]


def test_jsonl_values_that_are_not_text(tmp_path: Path) -> None:
    seeds = tmp_path / "typed.jsonl"
    lines = [{"review": ["a", "list"], "label": "true"}, {"review": "Good enough", "label": {"nested": 1}},
             {"review": "Crunchy and fresh", "label": True}, {"review": 42, "label": False}]
    seeds.write_text("".join(json.dumps(line) + "\n" for line in lines))
    spec = load_spec(write_spec(tmp_path, labels=["true", "false"], label_words={},
                                seeds=[{"path": str(seeds), "input": "review", "target": "label"}]))
    out = split_sources(spec, list(spec.seeds), "seed_id")
    reasons = {q["source_row"]: q["reason"] for q in out.quarantine}
    assert reasons == {0: "column 'review' holds a list, not text", 1: "column 'label' holds a JSON object, not text",
                       3: "column 'review' holds a number, not text"}
    # JSON booleans keep JSON's spelling, so they match labels written the way the file writes them
    assert [(r["input"], r["target"]) for r in out.rows] == [("Crunchy and fresh", "true")]


def test_large_sources_are_read_in_batches_and_kept_as_frames_with_the_same_rows(tmp_path: Path, monkeypatch) -> None:
    import polars as pl

    from synth_assets.sources import read, validate
    from synth_assets.sources.overlap import split_eval_overlap

    texts = [f"Review number {i}: it was fine" for i in range(23)] + ["Review number 3: it was fine", "An eval item here"]
    pl.DataFrame({"review": texts, "score": ["great", "other"] * 12 + ["great"]}).write_parquet(tmp_path / "seeds.parquet")
    spec = load_spec(write_spec(tmp_path, seeds=[{"path": str(tmp_path / "seeds.parquet"), "input": "review", "target": "score"}]))
    whole = split_sources(spec, list(spec.seeds), "seed_id")
    monkeypatch.setattr(read, "PARQUET_BATCH_ROWS", 4)
    monkeypatch.setattr(validate, "FRAME_ROWS", 5)
    batched = split_sources(spec, list(spec.seeds), "seed_id")
    assert len(batched.frames) == 4 and batched.frame().equals(whole.frame()) and batched.quarantine == whole.quarantine
    assert [q["source_row"] for q in batched.quarantine] == [23]  # the duplicate of row 3
    evals = pl.DataFrame({"input": ["an eval  ITEM here"], "source_file": ["test.csv"], "source_row": [0]})
    kept, overlap = split_eval_overlap(batched.frame(), evals)
    assert kept.height == 23 and [q["source_row"] for q in overlap] == [24] and "test.csv row 0" in overlap[0]["reason"]
