"""Hand the train set (and, on request, the filter verdicts) to code outside synth: JSONL or a Hugging Face dataset.

Every exported train row keeps its lineage (seed file and row, teacher call), and a manifest
records each table's data version, the same one the Dagster UI shows for the materialisation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl

from synth_assets.hashing import frame_hash
from synth_assets.storage.catalog import memory_catalog
from synth_assets.storage.location import Location, children, warehouse_location
from synth_assets.storage.parquet import read_table, table_path
from synth_assets.storage.sql import qualified
from synth_assets.storage.temp_files import temp_file

FORMATS = ("jsonl", "hf")
MANIFEST = "manifest.json"


class ExportError(ValueError):
    """An export that cannot be made; the message names the pipeline, table or folder."""


def pipelines_in(warehouse: Location) -> list[str]:
    return [p.name for p, is_dir in children(warehouse_location(warehouse)) if is_dir and not p.name.startswith(("_", "."))]


def _stored(warehouse: Location, pipeline: str, table: str) -> pl.DataFrame:
    if pipeline not in pipelines_in(warehouse):
        raise ExportError(f"no pipeline {pipeline!r} in {warehouse} (found: {pipelines_in(warehouse)}); run `synth run` first")
    try:
        return read_table(table_path(warehouse_location(warehouse), [pipeline, table]))
    except FileNotFoundError as exc:
        raise ExportError(str(exc)) from None


# train_set columns a student learns from besides input and target (there only when the spec turns them on:
# student.distill.soft_labels, filters.confidence.mode: weight, student.distill.logits); the lineage view does not carry them
TRAINING_COLUMNS = ("target_probs", "weight", "teacher_token_logprobs")


def export_frame(warehouse: Location, pipeline: str, table: str) -> pl.DataFrame:
    """train_set rows with their lineage columns (the catalog's lineage view); other tables as stored."""
    stored = _stored(warehouse, pipeline, table)
    if table != "train_set":
        return stored
    with memory_catalog(warehouse) as con:
        lineage = con.execute(f"select * from {qualified(pipeline, 'lineage')} order by row_id").pl()
    if lineage.height != stored.height:  # a row without lineage would be a row nobody can trace
        raise ExportError(f"{pipeline}.train_set has {stored.height} rows but only {lineage.height} resolve through lineage")
    extra = [c for c in TRAINING_COLUMNS if c in stored.columns]
    if extra:  # soft targets and weights ride along with each row's lineage
        lineage = lineage.join(stored.select("row_id", *extra), on="row_id", how="left", maintain_order="left")
    return lineage


def _write_jsonl(df: pl.DataFrame, path: Path) -> None:
    """Write to a temp file beside the target, then rename: a reader never sees half a file."""
    fd, tmp = temp_file(path.parent, f".{path.name}.")
    os.close(fd)
    try:
        df.write_ndjson(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_hf(df: pl.DataFrame, path: Path) -> None:
    try:
        import datasets
    except ImportError:
        raise ExportError("--format hf needs the `datasets` package: pip install 'synth[export]'") from None
    datasets.Dataset.from_polars(df).save_to_disk(str(path))


def export_tables(warehouse: Location, pipeline: str, tables: list[str], fmt: str, out: Path) -> dict[str, object]:
    """Write each table to `out` (<table>.jsonl or an HF dataset folder <table>/) plus manifest.json; returns the manifest."""
    if fmt not in FORMATS:
        raise ExportError(f"--format must be one of {FORMATS}, got {fmt!r}")
    # read everything before writing anything: a missing table leaves no half-made export behind
    frames = {t: export_frame(warehouse, pipeline, t) for t in tables}
    versions = {t: frame_hash(_stored(warehouse, pipeline, t)) for t in tables}
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, object] = {"pipeline": pipeline, "format": fmt, "warehouse": str(warehouse_location(warehouse)), "tables": {}}
    for table, df in frames.items():
        target = out / (f"{table}.jsonl" if fmt == "jsonl" else table)
        (_write_jsonl if fmt == "jsonl" else _write_hf)(df, target)
        manifest["tables"][table] = {"path": target.name, "rows": df.height, "columns": df.columns, "data_version": versions[table]}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
