"""Materialise a whole pipeline in a temp warehouse, as the CLI and the UI do."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from dagster import AssetSelection, DagsterInstance, materialize

from synth_assets.factory import build_definitions, observe_job_name
from synth_assets.inference.resources import FakeTeacher
from synth_assets.spec import PipelineSpec


def run_pipeline(spec: PipelineSpec, warehouse: Path, call_log: Path | None = None, fail_marker: str | None = None,
                 instance: DagsterInstance | None = None):
    """Observe seed files then materialise every asset, with a fake teacher that logs its calls."""
    teacher = FakeTeacher(model=spec.teacher.model, batch_size=spec.teacher.batch_size,
                          call_log=str(call_log) if call_log else None, fail_marker=fail_marker)
    defs = build_definitions([spec], warehouse, teachers={spec.name: teacher})
    instance = instance or DagsterInstance.get()
    defs.resolve_job_def(observe_job_name(spec.name)).execute_in_process(instance=instance)
    return materialize(list(defs.assets), instance=instance, resources=defs.resources,
                       selection=AssetSelection.groups(spec.name))


def table(warehouse: Path, spec: PipelineSpec, name: str) -> pl.DataFrame:
    return pl.read_parquet(warehouse / spec.name / f"{name}.parquet")


def calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0
