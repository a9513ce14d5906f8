"""A table with a list column (train_set.target_probs) gets a content version and a preview like any other."""

from __future__ import annotations

import polars as pl

from synth_assets.hashing import frame_hash
from synth_assets.storage.outputs import preview_markdown

FLAT = pl.DataFrame({"row_id": ["a", "b"], "weight": [1.0, 0.5]})
NESTED = FLAT.with_columns(pl.Series("target_probs", [[0.25, 0.75], None], pl.List(pl.Float64)))


def test_a_list_column_is_hashed_by_content_and_order_free() -> None:
    assert frame_hash(NESTED) == frame_hash(NESTED.reverse())
    changed = NESTED.with_columns(pl.Series("target_probs", [[0.5, 0.5], None], pl.List(pl.Float64)))
    assert frame_hash(changed) != frame_hash(NESTED) != frame_hash(FLAT)


def test_flat_tables_keep_their_hash() -> None:
    # the version every existing table was stored with: sorted columns, rows as CSV lines, sorted
    import hashlib

    from synth_assets.hashing import canonical_json

    h = hashlib.sha256(canonical_json(["row_id", "weight"]).encode())
    for line in sorted(FLAT.write_csv(include_header=False).splitlines()):
        h.update(line.encode() + b"\n")
    assert frame_hash(FLAT) == h.hexdigest()[:32]


def test_the_preview_shows_a_list_as_json() -> None:
    lines = preview_markdown(NESTED).splitlines()
    assert lines[0] == "| row_id | weight | target_probs |"
    assert lines[2] == "| a | 1.0 | [0.25,0.75] |"
