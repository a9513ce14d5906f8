"""Asset check on train_set: no training row, labelled seeds included, may contain an eval item.

The filter keeps contaminated teacher rows out of train_set, but seeds are the user's own rows and
pass unfiltered; an eval item among them makes every eval score a memory test. The check is
blocking: the students are not trained on a leaking train set.
"""

from pathlib import Path

import polars as pl
from dagster import AssetCheckResult, AssetCheckSeverity, AssetIn, MetadataValue, asset_check

from synth_assets.assets.common import Build
from synth_assets.filters.decontam import contaminated_by, shared_words
from synth_assets.filters.embeddings import TextEmbedder
from synth_assets.storage.io_manager import lazy_input
from synth_assets.storage.outputs import preview_markdown

MAX_LISTED = 100  # row ids in the check's metadata; the count is always complete
NAMED = 3  # offending rows named in the check's description, the text a failed run prints
SHARED_CHARS = 80  # of the shared text quoted per named row


def offending_rows(hits: pl.DataFrame, seeds: pl.DataFrame | pl.LazyFrame, eval_set: pl.DataFrame) -> pl.DataFrame:
    """Each contaminated training row with where it came from (the seed file row) and the text it shares."""
    source = (seeds.lazy().filter(pl.col("seed_id").is_in(hits["seed_id"].implode()))
              .select("seed_id", "source_file", "source_row").collect())
    items = eval_set.select(pl.col("eval_id").alias("contaminated_by"), pl.col("input").alias("_item"))
    rows = hits.join(source, on="seed_id", how="left").join(items, on="contaminated_by", how="left")
    shared = [shared_words(text, item) for text, item in zip(rows["input"].to_list(), rows["_item"].to_list())]
    return rows.with_columns(pl.Series("shared_text", shared, dtype=pl.String)).drop("_item")


def describe(offending: pl.DataFrame, named: int = NAMED) -> str:
    """A few lines a user can act on: which file row holds which eval item, and the words they share."""
    n = offending.height
    lines = [f"{n} train_set {'row contains an eval item' if n == 1 else 'rows contain eval items'}; remove "
             f"{'it' if n == 1 else 'them'} from the seed files (or the eval file) so the eval scores measure generalisation:"]
    for row in offending.head(named).iter_rows(named=True):
        where = f"{Path(row['source_file']).name} row {row['source_row']}" if row["source_file"] else f"seed {row['seed_id']}"
        if row["origin"] != "seed":
            where = f"{row['origin']} {row['row_id']} ({row['strategy']} of {where})"
        shared = row["shared_text"] or ""
        quoted = shared if len(shared) <= SHARED_CHARS else shared[:SHARED_CHARS - 3] + "..."
        lines.append(f'- {where}: eval item {row["contaminated_by"]}, shared text "{quoted}"' if quoted
                     else f"- {where}: eval item {row['contaminated_by']} (embedding match)")
    if offending.height > named:
        lines.append(f"- ... and {offending.height - named} more (metadata: offending, row_ids)")
    return "\n".join(lines)


def build_contamination_checks(b: Build) -> list:
    """The blocking contamination check on every round's train set (none when decontamination is off)."""
    return [_contamination_check(b, r) for r in b.rounds] if b.spec.filters.decontamination.enabled else []


def _contamination_check(b: Build, r: int):
    spec = b.spec
    cfg = spec.filters.decontamination

    @asset_check(
        asset=b.key("train_set", r),
        name="no_eval_contamination",
        additional_ins={"eval_set": AssetIn(key=b.key("eval_set")), "seeds": lazy_input(b.key("seeds"))},
        blocking=True,
        description=(
            "Fails (ERROR, blocks training) if any train_set row, seeds included, contains an eval item: "
            f"a shared {cfg.ngram}-gram, >= {cfg.min_containment:.0%} of its {cfg.containment_ngram}-grams, "
            "or an exact match of a short item."
        ),
    )
    def no_eval_contamination(train_set: pl.DataFrame, eval_set: pl.DataFrame, seeds: pl.LazyFrame) -> AssetCheckResult:
        embedder = TextEmbedder(spec.filters.embedding_model) if cfg.embedding_threshold is not None else None
        hits = train_set.with_columns(contaminated_by(train_set["input"], eval_set, cfg, embedder)).filter(
            pl.col("contaminated_by").is_not_null()
        )
        found = offending_rows(hits, seeds, eval_set)
        offending = found.select("row_id", "origin", "source_file", "source_row", "contaminated_by", "shared_text", "input")
        return AssetCheckResult(
            passed=hits.height == 0,
            severity=AssetCheckSeverity.ERROR,
            description=None if hits.height == 0 else describe(found),
            metadata={
                "contaminated_rows": MetadataValue.int(hits.height),
                "by_origin": MetadataValue.json(dict(hits.group_by("origin").len().sort("origin").iter_rows())),
                "row_ids": MetadataValue.json(offending["row_id"].head(MAX_LISTED).to_list()),
                "offending": MetadataValue.md(preview_markdown(offending, rows=20)),
            },
        )

    return no_eval_contamination
