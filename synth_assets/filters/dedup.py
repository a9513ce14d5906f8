"""Exact dedup on normalised text, against the labelled seeds and against earlier expansions.

Every dedup (this one, near_dup.py, embedding_dedup.py) keeps the first copy among the rows that
every earlier filter kept, so a rejected copy never hides a good one, and each later dedup sees only
the rows the earlier ones kept. "First" is ROW_ORDER, so the kept copy is the same in every run.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from synth_assets.filters.step import FilterInputs, FilterStep, Verdict, attach, sliced
from synth_assets.strategies import STRATEGIES

ROW_ORDER = ("strategy", "seed_id", "sample_idx", "row_id")
# (texts, positions, reference_texts) -> per position, the index in [*reference_texts, *texts[positions]] it
# repeats, or None: the candidates are the texts at `positions`, in that order, so no copy of them is made
DupFinder = Callable[[pl.Series, np.ndarray, pl.Series], list[int | None]]
_SEP = "\x1f"  # joins the normalised columns of a key; never in normalised text


def _norm(column: str) -> pl.Expr:
    return pl.col(column).str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()


def _keyed_on_more_than_input(df: pl.DataFrame) -> list[str]:
    return [n for n in df["strategy"].unique().sort().to_list() if n in STRATEGIES and tuple(STRATEGIES[n].dedup_on) != ("input",)]


def input_keyed(df: pl.DataFrame) -> pl.Expr:
    """Rows whose new content is their input (most strategies), the only ones text dedups on `input` can judge."""
    return ~pl.col("strategy").is_in(_keyed_on_more_than_input(df))


def _key(df: pl.DataFrame) -> pl.Expr:
    """Each row's dedup key from its strategy's `dedup_on` columns (input alone for most strategies).

    Strategies that keep the seed's input (answer_augment, revthink, rationale) make new examples
    through their target or rationale, so those columns are part of the key.
    """
    key = _norm("input")
    for name in _keyed_on_more_than_input(df):
        columns = STRATEGIES[name].dedup_on
        key = pl.when(pl.col("strategy") == name).then(pl.concat_str([_norm(c) for c in columns], separator=_SEP)).otherwise(key)
    return key


def _hashed(df: pl.DataFrame, key: pl.Expr) -> pl.DataFrame:
    """Each row's key as two independent 64-bit hashes `_a`, `_b` (null for a null key): 16 bytes a row instead of
    its text, and two different texts share both with odds of about n^2 / 2^129 (1e-27 at a million rows).
    The normalised texts are built once per slice (sliced), never for the whole table."""
    k = pl.col("_k")
    hashes = [pl.when(k.is_not_null()).then(k.hash(seed=s)).alias(name) for s, name in ((1, "_a"), (2, "_b"))]
    return sliced(df, lambda part: part.select(key.alias("_k")).select(hashes))


def _keys(df: pl.DataFrame) -> pl.DataFrame:
    """ROW_ORDER and each row's hashed dedup key."""
    return df.select(*ROW_ORDER).hstack(_hashed(df, _key(df)).get_columns())


def _first_copies(keys: pl.DataFrame, seeds: pl.DataFrame) -> pl.Series:
    seed_keys = (seeds.select(pl.col("seed_id").alias("_seed_dup")).hstack(_hashed(seeds, _norm("input")).get_columns())
                 .unique(["_a", "_b"], keep="first"))
    x = (
        keys.with_row_index("_pos")
        .join(seed_keys, on=["_a", "_b"], how="left")
        .sort("strategy", "seed_id", "sample_idx", "row_id")
        .with_columns(pl.col("row_id").first().over("_a", "_b").alias("_first"))
        .with_columns(
            pl.when(pl.col("_a").is_null()).then(None)
            .when(pl.col("_seed_dup").is_not_null()).then(pl.col("_seed_dup"))
            .when(pl.col("_first") != pl.col("row_id")).then(pl.col("_first"))
            .otherwise(None)
            .alias("dup_of")
        )
        .sort("_pos")
    )
    return x["dup_of"]


def exact_duplicates(df: pl.DataFrame, seeds: pl.DataFrame) -> pl.Series:
    """`dup_of`: the seed_id or row_id this row repeats, null for the first occurrence of a text.

    Rows are ranked by (strategy, seed_id, sample_idx, row_id) so the kept copy is the same in every run.
    Only input-keyed rows can repeat a seed: a seed has no worked solution or rationale to compare.
    Keys are compared by their hashes (_hashed), so no normalised copy of the table's texts is held.
    """
    return _first_copies(_keys(df), seeds)


def dup_column(df: pl.DataFrame, candidates: pl.DataFrame, refs: pl.DataFrame, name: str, find: DupFinder) -> pl.DataFrame:
    """Join column `name` (the seed_id / row_id each candidate repeats) from find(texts, positions, reference_texts).

    `candidates` (text_candidates) name their rows of `df` by `_pos`; ranked in ROW_ORDER, those positions are
    what `find` reads the texts at.
    """
    candidates = candidates.sort(*ROW_ORDER)
    ids = pl.concat([refs["seed_id"], candidates["row_id"]])
    hits = pl.Series(find(df["input"], candidates["_pos"].to_numpy(), refs["input"]), dtype=pl.Int64)
    col = ids.gather(hits).alias(name)  # a null hit gathers a null
    return attach(df, candidates.select("row_id").with_columns(col))


def text_candidates(df: pl.DataFrame, eligible: pl.Expr) -> pl.DataFrame:
    """The rows a dedup on `input` alone judges: eligible ones whose new content is their input.

    Rows whose input is their seed's by design (answer_augment, revthink, rationale) differ in their
    target, which the near and semantic dedups do not read. Their texts are not copied: `_pos` is each
    one's row in `df`.
    """
    keep = eligible & input_keyed(df)
    return df.select(*ROW_ORDER, keep.alias("_keep")).with_row_index("_pos").filter(pl.col("_keep")).drop("_keep")


def _run(df: pl.DataFrame, eligible: pl.Expr, inputs: FilterInputs) -> Verdict:
    # against labelled seeds only: an unlabelled pool row is the very text its teacher label is for
    # keys of every row, then the eligible ones: filtering first would copy their texts
    candidates = _keys(df).filter(df.select(eligible).to_series())
    dups = candidates.select("row_id").with_columns(_first_copies(candidates, inputs.labelled_seeds).alias("dup_of"))
    df = attach(df, dups)
    return Verdict(df, pl.when(pl.col("dup_of").is_not_null()).then(pl.lit("duplicate")), pl.col("dup_of").is_null())


EXACT_DEDUP = FilterStep(name="exact_dedup", section="exact_dedup", run=_run, reasons=("duplicate",),
                         columns={"dup_of": pl.String})
