"""Exact dedup on normalised text, against the labelled seeds and against earlier expansions.

Every dedup (this one, near_dup.py, embedding_dedup.py) keeps the first copy among the rows that
every earlier filter kept, so a rejected copy never hides a good one, and each later dedup sees only
the rows the earlier ones kept. "First" is ROW_ORDER, so the kept copy is the same in every run.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from synth_assets.filters.step import FilterInputs, FilterStep, Verdict, attach, rows_where
from synth_assets.strategies import STRATEGIES

ROW_ORDER = ("strategy", "seed_id", "sample_idx", "row_id")
DupFinder = Callable[[pl.Series, pl.Series], list[int | None]]  # (texts, reference_texts) -> index or None
_SEP = "\x1f"  # joins the normalised columns of a key; never in normalised text


def _norm(column: str) -> pl.Expr:
    return pl.col(column).str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()


def key_columns(df: pl.DataFrame) -> list[str]:
    """The columns dedup keys are built from: every strategy's `dedup_on`, as far as the frame has them."""
    extra = {c for n in _keyed_on_more_than_input(df) for c in STRATEGIES[n].dedup_on}
    return ["input", *sorted(c for c in extra if c != "input" and c in df.columns)]


def _key_source(df: pl.DataFrame) -> list[str]:
    """The columns an exact dedup reads: the row order and the key columns."""
    return list(dict.fromkeys([*ROW_ORDER, *key_columns(df)]))


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


def exact_duplicates(df: pl.DataFrame, seeds: pl.DataFrame) -> pl.Series:
    """`dup_of`: the seed_id or row_id this row repeats, null for the first occurrence of a text.

    Rows are ranked by (strategy, seed_id, sample_idx, row_id) so the kept copy is the same in every run.
    Only input-keyed rows can repeat a seed: a seed has no worked solution or rationale to compare.
    """
    seed_norm = seeds.select(_norm("input").alias("_norm"), pl.col("seed_id").alias("_seed_dup")).unique("_norm", keep="first")
    x = (
        df.select(_key_source(df)).with_row_index("_pos")
        .with_columns(_key(df).alias("_norm"))
        .join(seed_norm, on="_norm", how="left")
        .sort("strategy", "seed_id", "sample_idx", "row_id")
        .with_columns(pl.col("row_id").first().over("_norm").alias("_first"))
        .with_columns(
            pl.when(pl.col("_norm").is_null()).then(None)
            .when(pl.col("_seed_dup").is_not_null()).then(pl.col("_seed_dup"))
            .when(pl.col("_first") != pl.col("row_id")).then(pl.col("_first"))
            .otherwise(None)
            .alias("dup_of")
        )
        .sort("_pos")
    )
    return x["dup_of"]


def dup_column(df: pl.DataFrame, candidates: pl.DataFrame, refs: pl.DataFrame, name: str, find: DupFinder) -> pl.DataFrame:
    """Join column `name` (the seed_id / row_id each candidate repeats) from find(texts, reference_texts)."""
    candidates = candidates.sort(*ROW_ORDER)
    ids = pl.concat([refs["seed_id"], candidates["row_id"]])
    hits = pl.Series(find(candidates["input"], refs["input"]), dtype=pl.Int64)
    col = ids.gather(hits).alias(name)  # a null hit gathers a null
    return attach(df, candidates.select("row_id").with_columns(col))


def text_candidates(df: pl.DataFrame, eligible: pl.Expr) -> pl.DataFrame:
    """The rows a dedup on `input` alone judges: eligible ones whose new content is their input.

    Rows whose input is their seed's by design (answer_augment, revthink, rationale) differ in their
    target, which the near and semantic dedups do not read.
    """
    return rows_where(df, eligible & input_keyed(df), *ROW_ORDER, "input")


def _run(df: pl.DataFrame, eligible: pl.Expr, inputs: FilterInputs) -> Verdict:
    # against labelled seeds only: an unlabelled pool row is the very text its teacher label is for
    candidates = rows_where(df, eligible, *_key_source(df))
    dups = candidates.select("row_id").with_columns(exact_duplicates(candidates, inputs.labelled_seeds).alias("dup_of"))
    df = attach(df, dups)
    return Verdict(df, pl.when(pl.col("dup_of").is_not_null()).then(pl.lit("duplicate")), pl.col("dup_of").is_null())


EXACT_DEDUP = FilterStep(name="exact_dedup", section="exact_dedup", run=_run, reasons=("duplicate",),
                         columns={"dup_of": pl.String})
