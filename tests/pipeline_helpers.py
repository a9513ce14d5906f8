"""Materialise a whole pipeline in a temp warehouse, through the same functions the CLI uses."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance, ExecuteInProcessResult

from synth_assets.factory import build_definitions
from synth_assets.inference.resources import FakeTeacher
from synth_assets.runs import RunOutcome, materialize_all, materialize_stale
from synth_assets.spec import PipelineSpec, load_spec


def fake_definitions(spec: PipelineSpec, warehouse: Path, call_log: Path | None = None, fail_marker: str | None = None,
                     delay_s: float = 0.0):
    teacher = FakeTeacher(model=spec.teacher.model, batch_size=spec.teacher.batch_size,
                          call_log=str(call_log) if call_log else None, fail_marker=fail_marker, delay_s=delay_s)
    return build_definitions([spec], warehouse, teachers={spec.name: teacher})


def run_pipeline(spec: PipelineSpec, warehouse: Path, call_log: Path | None = None, fail_marker: str | None = None,
                 instance: DagsterInstance | None = None, stale_only: bool = False, workers: int | None = None,
                 delay_s: float = 0.0) -> RunOutcome:
    """Observe seed files then materialise every asset (or only stale ones), with a call-logging fake teacher.

    Shards of a sharded spec run in `workers` processes when the instance is a shared one on disk.
    """
    defs = fake_definitions(spec, warehouse, call_log, fail_marker, delay_s)
    rebuild = partial(fake_definitions, spec, warehouse, call_log, fail_marker, delay_s)
    run = materialize_stale if stale_only else materialize_all
    return run(defs, [spec.name], instance or DagsterInstance.get(), rebuild=rebuild, workers=workers,
               **({"log": lambda _m: None} if stale_only else {}))


def table(warehouse: Path, spec: PipelineSpec, name: str) -> pl.DataFrame:
    return pl.read_parquet(warehouse / spec.name / f"{name}.parquet")


def calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


@dataclass
class JobRun:
    """One run of a pipeline's `<name>_all` job, the job the UI launches, with the instance holding its events."""

    spec: PipelineSpec
    warehouse: Path
    result: ExecuteInProcessResult
    instance: DagsterInstance


@pytest.fixture(scope="session")
def tiny_job(tmp_path_factory: pytest.TempPathFactory) -> JobRun:
    """The tiny spec run once through its job; import this fixture into the test modules that read the run's events."""
    from spec_helpers import write_spec

    tmp = tmp_path_factory.mktemp("tiny_job")
    spec = load_spec(write_spec(tmp))
    instance = DagsterInstance.ephemeral()
    defs = fake_definitions(spec, tmp / "warehouse")
    result = defs.resolve_job_def(f"{spec.name}_all").execute_in_process(instance=instance, raise_on_error=False)
    assert result.success
    return JobRun(spec, tmp / "warehouse", result, instance)
