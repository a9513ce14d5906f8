"""train_set: the exact rows a student sees, each traceable to its seed file row or teacher call (the `lineage` view).

Round 0 is the labelled seeds plus round 0's accepted expansions. Round r is round r-1's train
set plus the accepted round-r rows whose text it does not already hold.
"""

import polars as pl
from dagster import AssetIn, MetadataValue, asset

from synth_assets.assets.common import TABLE_KINDS, Build
from synth_assets.sources.validate import normalise
from synth_assets.storage.lease import leased
from synth_assets.storage.outputs import table_output

CODE_VERSION = "2"  # 2: the rationale column
TRAIN_SCHEMA = {
    "row_id": pl.String, "input": pl.String, "target": pl.String, "origin": pl.String,
    "strategy": pl.String, "seed_id": pl.String, "round": pl.Int64,
    # the teacher's explanation (rationale strategy), for students that learn from explanations
    "rationale": pl.String,
}


def accepted_rows(filtered: pl.DataFrame) -> pl.DataFrame:
    """The accepted expansions as train_set rows (origin `expansion`, their round kept)."""
    return filtered.filter(pl.col("accepted")).select(
        "row_id", "input", "target", pl.lit("expansion").alias("origin"), "strategy", "seed_id", "round", "rationale"
    ).cast(TRAIN_SCHEMA)


def seed_rows(seeds: pl.DataFrame) -> pl.DataFrame:
    """The labelled seeds as train_set rows (origin `seed`, round 0)."""
    return seeds.filter(pl.col("target").is_not_null()).select(
        pl.col("seed_id").alias("row_id"), "input", "target", pl.lit("seed").alias("origin"),
        pl.lit(None, pl.String).alias("strategy"), "seed_id", pl.lit(0, pl.Int64).alias("round"),
        pl.lit(None, pl.String).alias("rationale"),
    ).cast(TRAIN_SCHEMA)


def _new_rows(previous: pl.DataFrame, accepted: pl.DataFrame) -> pl.DataFrame:
    """Accepted rows whose text the previous train set does not hold: a text the student already trains on
    teaches nothing new, whichever round produced it."""
    known = previous["input"].map_elements(normalise, return_dtype=pl.String).implode()
    new = accepted.filter(~pl.col("input").map_elements(normalise, return_dtype=pl.String).is_in(known))
    return new.unique(subset="input", keep="first", maintain_order=True)


def build_train_set(b: Build, r: int = 0):
    """The train_set asset of round r."""
    if r == 0:
        ins = {"filtered": AssetIn(key=b.key("filtered")), "seeds": AssetIn(key=b.key("seeds"))}
        version = CODE_VERSION
        description = "The exact rows a student trains on: labelled seeds plus accepted expansions, each traceable via the `lineage` view."
    else:
        ins = {"filtered": AssetIn(key=b.key("filtered", r)), "previous": AssetIn(key=b.key("train_set", r - 1))}
        version = b.round_version(r)
        description = f"Round {r - 1}'s train set plus the accepted round-{r} rows."

    @asset(key=b.key("train_set", r), ins=ins, group_name=b.group, kinds=TABLE_KINDS, code_version=version, description=description)
    @leased(b.root)
    def train_set(filtered: pl.DataFrame, **inputs: pl.DataFrame):
        accepted = accepted_rows(filtered)
        before = seed_rows(inputs["seeds"]) if r == 0 else inputs["previous"]
        new = accepted if r == 0 else _new_rows(before, accepted)
        df = pl.concat([before, new])
        return table_output(
            df,
            seeds=int((df["origin"] == "seed").sum()),
            expansions=int((df["origin"] == "expansion").sum()),
            added=new.height,
            repeats_dropped=accepted.height - new.height,
            label_counts=MetadataValue.json(dict(df.group_by("target").len().iter_rows())),
        )

    return train_set
