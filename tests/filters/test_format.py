"""The format filter on handmade expansions: a regex or JSON schema the text must match, refused at load when invalid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from spec_helpers import write_spec
from synth_assets.filters.apply import apply_filters
from synth_assets.filters.format import format_errors
from synth_assets.spec import SpecError, load_spec
from synth_assets.spec_filters import FormatSpec

SEEDS = pl.DataFrame({"seed_id": ["s1"], "input": ["A labelled review about a tin of green tea, smooth and fresh."],
                      "target": ["great"]})
SCHEMA = {"type": "object", "required": ["text", "stars"],
          "properties": {"text": {"type": "string", "minLength": 5}, "stars": {"type": "integer", "minimum": 1, "maximum": 5}}}


def _expansions(*rows: tuple[str, str, str | None]) -> pl.DataFrame:
    """Rows (strategy, input, error) of seed s1, targets all 'great'."""
    n = len(rows)
    return pl.DataFrame({
        "row_id": [f"r{i}" for i in range(n)], "seed_id": ["s1"] * n, "strategy": [s for s, _, _ in rows],
        "sample_idx": list(range(n)), "input": [t for _, t, _ in rows], "target": ["great"] * n,
        "error": [e for _, _, e in rows], "confidence": [None] * n, "label_scores": [None] * n,
    }, schema_overrides={"error": pl.String, "confidence": pl.Float64, "label_scores": pl.String})


def _filtered(tmp_path: Path, fmt: dict | None, rows: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, str | None]]:
    filters = {"confidence": {"min_precision": 0.5, "min_support": 2}, **({"format": fmt} if fmt is not None else {})}
    df, _ = apply_filters(rows, SEEDS, load_spec(write_spec(tmp_path, filters=filters)))
    return df, dict(df.select("row_id", "reject_reason").iter_rows())


def test_off_by_default_the_table_has_no_format_column(tmp_path: Path) -> None:
    rows = _expansions(("rephrase", "Smooth tea, fresh from the tin, lovely.", None))
    off, _ = _filtered(tmp_path / "a", None, rows)
    explicit, _ = _filtered(tmp_path / "b", {"enabled": False, "pattern": "^never$"}, rows)
    on, reasons = _filtered(tmp_path / "c", {"enabled": True, "pattern": "tea"}, rows)
    assert "format_error" not in off.columns and off.drop("filter_config_hash").equals(explicit.drop("filter_config_hash"))
    assert on.columns == [*off.columns[:-3], "format_error", *off.columns[-3:]]  # verdicts, then the decision columns
    assert on.schema["format_error"] == pl.String and reasons == {"r0": None}


def test_rows_that_miss_the_pattern_are_bad_format(tmp_path: Path) -> None:
    rows = _expansions(
        ("rephrase", "Smooth tea, fresh from the tin. Five stars.", None),
        ("rephrase", "Sure! Here is a rewrite: smooth tea, fresh from the tin.", None),
        ("rephrase", "Sure! timed out", "timeout"),  # validity names a failed call first
        ("label", "Sure! The seed's own text is not the teacher's to format.", None),
    )
    df, reasons = _filtered(tmp_path, {"enabled": True, "pattern": r"^(?!Sure!).*stars\.$"}, rows)
    assert [reasons[r] for r in ("r0", "r1", "r2")] == [None, "bad_format", "teacher_error: timeout"]
    errors = dict(df.select("row_id", "format_error").iter_rows())
    assert errors["r1"] == r"no match for /^(?!Sure!).*stars\.$/" and errors["r0"] is None and errors["r3"] is None


def test_only_the_named_strategies_are_checked(tmp_path: Path) -> None:
    rows = _expansions(("rephrase", "no digits in this rewrite of the tea review", None),
                       ("new_question", "no digits in this new tea review either", None))
    _, reasons = _filtered(tmp_path, {"enabled": True, "pattern": r"\d", "strategies": ["new_question"]}, rows)
    assert reasons == {"r0": None, "r1": "bad_format"}


def test_a_malformed_copy_is_never_the_kept_one(tmp_path: Path) -> None:
    # r0 fails the format; its exact copy r1 (upper case) would otherwise be the duplicate of r0
    text = '{"text": "Smooth green tea from a tin", "stars": 9}'
    rows = _expansions(("rephrase", text, None), ("rephrase", text.upper(), None))
    fmt = {"enabled": True, "json_schema": {"type": "object", "properties": {"stars": {"maximum": 5}, "STARS": {"maximum": 10}}}}
    df, reasons = _filtered(tmp_path, fmt, rows)
    assert reasons == {"r0": "bad_format", "r1": None} and df["dup_of"].null_count() == 2


def test_json_schema_reasons_name_what_is_wrong() -> None:
    cfg = FormatSpec(enabled=True, json_schema=SCHEMA)
    texts = [json.dumps({"text": "Lovely tea", "stars": 5}), "stars: 5", json.dumps({"text": "Lovely tea"}),
             json.dumps({"text": "Lovely tea", "stars": 7}), None]
    assert format_errors(texts, cfg) == [
        None,
        "not JSON (Expecting value at character 0)",
        "JSON schema: 'stars' is a required property at $",
        "JSON schema: 7 is greater than the maximum of 5 at $.stars",
        None,  # a missing text is validity's to reject
    ]


def test_pattern_and_schema_both_apply_and_the_column_is_chosen(tmp_path: Path) -> None:
    cfg = FormatSpec(enabled=True, pattern=r"\d", json_schema={"type": "object"})
    assert format_errors(['{"a": 1}', "[1]", "{}"], cfg) == [None, "JSON schema: [1] is not of type 'object' at $",
                                                            r"no match for /\d/"]  # the pattern is tried first
    rows = _expansions(("rephrase", "A fine tea review, long enough to pass.", None))
    _, reasons = _filtered(tmp_path, {"enabled": True, "column": "target", "pattern": "^other$"}, rows)
    assert reasons == {"r0": "bad_format"}  # the target 'great', not the text


def _refusal(tmp_path: Path, fmt: dict) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(write_spec(tmp_path, filters={"format": fmt}))
    return str(info.value)


@pytest.mark.parametrize(("fmt", "expected"), [
    ({"enabled": True, "pattern": "(stars"}, "filters.format.pattern: not a valid regular expression (missing ), unterminated subpattern"),
    ({"enabled": True, "json_schema": {"type": "strin"}}, "filters.format.json_schema: not a valid JSON schema ("),
    ({"enabled": True, "json_schema": {"required": "text"}}, "filters.format.json_schema: not a valid JSON schema ('text' is not of type 'array' at $.required)"),
    ({"enabled": True}, "filters.format.pattern: the format filter is on but has nothing to match"),
    ({"enabled": True, "pattern": "x", "strategies": ["rephrse"]}, "filters.format.strategies: unknown strategy 'rephrse'"),
    ({"enabled": True, "pattern": "x", "colum": "target"}, "filters.format.colum"),
])
def test_a_format_that_cannot_work_is_refused_at_load(tmp_path: Path, fmt: dict, expected: str) -> None:
    assert expected in _refusal(tmp_path, fmt)


def test_the_filters_hash_changes_only_when_the_format_filter_says_something(tmp_path: Path) -> None:
    def filters_hash(folder: str, **filters) -> str:
        (tmp_path / folder).mkdir()
        return load_spec(write_spec(tmp_path / folder, filters=filters)).section_hash("filters")

    absent = filters_hash("a")
    assert filters_hash("b", format={"enabled": False}) == absent
    assert filters_hash("c", format={"enabled": True, "pattern": "tea"}) != absent


def test_synth_run_refuses_an_invalid_pattern(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, filters={"format": {"enabled": True, "pattern": "[a-"}})
    done = subprocess.run([sys.executable, "-m", "synth_assets.cli", "run", "--spec", str(spec), "--warehouse",
                           str(tmp_path / "warehouse")], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ))
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "filters.format.pattern: not a valid regular expression (unterminated character set" in done.stderr
    assert not (tmp_path / "warehouse").exists() or not list((tmp_path / "warehouse").rglob("*.parquet"))
