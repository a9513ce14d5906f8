"""Seed files (observed by content hash) → seeds, eval_set and quarantine tables."""

import warnings
from pathlib import Path

import polars as pl
from dagster import AssetExecutionContext, BetaWarning, AssetOut, DataVersion, MetadataValue, multi_asset, observable_source_asset

from synth_assets.assets.common import TABLE_KINDS, Build
from synth_assets.hashing import file_hash, stable_hash
from synth_assets.sources.overlap import split_eval_overlap
from synth_assets.sources.validate import clean_schema, quarantine_frame, split_sources
from synth_assets.storage.lease import leased
from synth_assets.storage.outputs import table_output

CODE_VERSION = "2"  # 2: seed rows that are eval items are quarantined
SEED_SCHEMA = clean_schema("seed_id")


def source_files(spec) -> list[str]:
    return sorted({s.path for s in spec.seeds} | {spec.eval.path})


def seed_files_version(spec) -> str:
    """Content hash of every input file: touching or copying a file changes nothing downstream."""
    return stable_hash(*[file_hash(f) for f in source_files(spec)], length=32)


def build_seed_assets(b: Build) -> list:
    spec = b.spec
    files = source_files(spec)

    def seed_files() -> DataVersion:
        return DataVersion(seed_files_version(spec))

    with warnings.catch_warnings():  # observable sources are how Dagster versions external files
        warnings.simplefilter("ignore", BetaWarning)
        seed_files = observable_source_asset(
            key=b.key("seed_files"), group_name=b.group,
            description=f"Seed, pool and eval files of {spec.name} (data version = content hash): {', '.join(files)}",
        )(seed_files)

    @multi_asset(
        outs={
            "seeds": AssetOut(key=b.key("seeds"), description="Valid seed rows (labelled seeds and the unlabelled pool) with lineage to file and row.", kinds=TABLE_KINDS),
            "eval_set": AssetOut(key=b.key("eval_set"), description="Held-out rows every model is scored on; never trained on.", kinds=TABLE_KINDS),
            "quarantine": AssetOut(key=b.key("quarantine"), description="Rows rejected at ingestion, each with a reason; nothing is silently dropped.", kinds=TABLE_KINDS),
        },
        deps=[b.key("seed_files")],
        name=f"{spec.name}__ingest",  # op names are global in a code location: one per pipeline
        group_name=b.group,
        code_version=f"{CODE_VERSION}-{spec.section_hash('seeds', 'eval', 'labels', 'max_input_chars')}",
    )
    @leased(b.root)
    def ingest(context: AssetExecutionContext):
        seeds = split_sources(spec, list(spec.seeds), "seed_id")
        evals = split_sources(spec, [spec.eval], "eval_id")
        eval_df = evals.frame()
        seed_df, overlap = split_eval_overlap(seeds.frame(), eval_df)
        quarantine = quarantine_frame(seeds.quarantine + overlap + evals.quarantine)
        labelled = seed_df.filter(pl.col("target").is_not_null())
        context.log.info(f"{seed_df.height} seeds ({labelled.height} labelled), {eval_df.height} eval rows, {quarantine.height} quarantined")
        if overlap:
            shown = "; ".join(f"{Path(r['source_file']).name} row {r['source_row']}: {r['reason']}" for r in overlap[:5])
            context.log.warning(f"{len(overlap)} seed rows are eval items and were quarantined before any teacher call: "
                                f"{shown}{' ...' if len(overlap) > 5 else ''}")
        yield table_output(
            seed_df, "seeds", labelled=labelled.height, unlabelled=seed_df.height - labelled.height, eval_overlap=len(overlap),
            label_counts=MetadataValue.json(dict(labelled.group_by("target").len().iter_rows())),
        )
        yield table_output(eval_df, "eval_set", label_counts=MetadataValue.json(dict(eval_df.group_by("target").len().iter_rows())))
        yield table_output(
            quarantine, "quarantine",
            reasons=MetadataValue.json(dict(quarantine.with_columns(pl.col("reason").str.split(" (").list.first()).group_by("reason").len().iter_rows())),
        )

    return [seed_files, ingest]

