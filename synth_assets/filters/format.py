"""Format filter: the text a row was made for must match the spec's regular expression and/or JSON schema.

For tasks whose data has a shape — a reply that must be one JSON object, a solution that must end in
"#### <answer>", a text that must not start with "Sure, here is" — `filters.format` names the
column checked (`input`, the text the teacher wrote, by default), a `pattern` searched anywhere in
it (anchor it for the whole text) and/or a `json_schema` the text, parsed as one JSON document, must
be valid under. Rows that fail get `format_error` (why) and are rejected as `bad_format`. Only the
strategies in `strategies` are checked; by default every strategy that writes a text (a label row's
text is the seed's own). A null text is validity's to reject, not this filter's.

It runs right after validity: like validity it is a property of the row alone, and a malformed row
is malformed whatever its label, its score or its copies, so it must not be the kept copy of a
duplicate group. The filter is newer than `filtered`'s shape, so its column is there only when it is on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import polars as pl

from synth_assets.filters.rows import label_rows
from synth_assets.filters.step import FilterInputs, FilterStep, Verdict
from synth_assets.spec_filters import FormatSpec


def _schema_error(text: str, validator: Any) -> str | None:
    """Why the text is not one JSON document valid under the schema, or None when it is."""
    from jsonschema.exceptions import best_match

    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        return f"not JSON ({err.msg} at character {err.pos})"
    error = best_match(validator.iter_errors(document))
    return None if error is None else f"JSON schema: {error.message} at {error.json_path}"


def format_errors(texts: Sequence[str | None], cfg: FormatSpec) -> list[str | None]:
    """Per text: why it does not match the pattern or the schema (the pattern is tried first), or None."""
    pattern = re.compile(cfg.pattern) if cfg.pattern is not None else None
    validator = None
    if cfg.json_schema is not None:
        from jsonschema.validators import validator_for

        validator = validator_for(cfg.json_schema)(cfg.json_schema)
    out: list[str | None] = []
    for text in texts:
        if text is None:
            out.append(None)
        elif pattern is not None and pattern.search(text) is None:
            out.append(f"no match for /{cfg.pattern}/")
        else:
            out.append(_schema_error(text, validator) if validator is not None else None)
    return out


def _run(df: pl.DataFrame, eligible: pl.Expr, inputs: FilterInputs) -> Verdict:
    cfg = inputs.spec.filters.format
    checked = pl.col("strategy").is_in(cfg.strategies) if cfg.strategies else ~label_rows()
    texts = df.select(pl.when(checked).then(pl.col(cfg.column))).to_series().to_list()
    df = df.with_columns(pl.Series("format_error", format_errors(texts, cfg), dtype=pl.String))
    reason = pl.when(pl.col("format_error").is_not_null()).then(pl.lit("bad_format"))
    return Verdict(df, reason, pl.col("format_error").is_null())


FORMAT = FilterStep(name="format", section="format", run=_run, reasons=("bad_format",),
                    columns={"format_error": pl.String}, columns_when_off=False)
