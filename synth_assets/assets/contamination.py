"""Asset check on train_set: no training row, labelled seeds included, may contain an eval item.

The filter keeps contaminated teacher rows out of train_set, but seeds are the user's own rows and
pass unfiltered; an eval item among them makes every eval score a memory test. The check is
blocking: the students are not trained on a leaking train set.
"""

import polars as pl
from dagster import AssetCheckResult, AssetCheckSeverity, AssetIn, MetadataValue, asset_check

from synth_assets.assets.common import Build
from synth_assets.filters.decontam import contaminated_by
from synth_assets.filters.embeddings import TextEmbedder
from synth_assets.storage.outputs import preview_markdown

MAX_LISTED = 100  # row ids in the check's metadata; the count is always complete


def build_contamination_checks(b: Build) -> list:
    spec = b.spec
    cfg = spec.filters.decontamination
    if not cfg.enabled:
        return []

    @asset_check(
        asset=b.key("train_set"),
        name="no_eval_contamination",
        additional_ins={"eval_set": AssetIn(key=b.key("eval_set"))},
        blocking=True,
        description=(
            "Fails (ERROR, blocks training) if any train_set row, seeds included, contains an eval item: "
            f"a shared {cfg.ngram}-gram, >= {cfg.min_containment:.0%} of its {cfg.containment_ngram}-grams, "
            "or an exact match of a short item."
        ),
    )
    def no_eval_contamination(train_set: pl.DataFrame, eval_set: pl.DataFrame) -> AssetCheckResult:
        embedder = TextEmbedder(spec.filters.embedding_model) if cfg.embedding_threshold is not None else None
        hits = train_set.with_columns(contaminated_by(train_set["input"], eval_set, cfg, embedder)).filter(
            pl.col("contaminated_by").is_not_null()
        )
        offending = hits.select("row_id", "origin", "contaminated_by", "input")
        return AssetCheckResult(
            passed=hits.height == 0,
            severity=AssetCheckSeverity.ERROR,
            description=None if hits.height == 0 else (
                f"{hits.height} train_set rows contain eval items; remove them from the seed files "
                "(or the eval file) so the eval scores measure generalisation"
            ),
            metadata={
                "contaminated_rows": MetadataValue.int(hits.height),
                "by_origin": MetadataValue.json(dict(hits.group_by("origin").len().sort("origin").iter_rows())),
                "row_ids": MetadataValue.json(offending["row_id"].head(MAX_LISTED).to_list()),
                "offending": MetadataValue.md(preview_markdown(offending, rows=20)),
            },
        )

    return [no_eval_contamination]
