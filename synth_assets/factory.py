"""Pipeline spec(s) → dagster.Definitions: one asset group, job and teacher resource per pipeline."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import AssetSelection, Definitions, define_asset_job, map_asset_specs

from synth_assets.assets.checks import build_checks
from synth_assets.assets.common import Build
from synth_assets.assets.contamination import build_contamination_checks
from synth_assets.assets.error_rate import build_error_rate_checks
from synth_assets.automation import build_triggers, on_real_change
from synth_assets.assets.rounds import build_rounds
from synth_assets.assets.seeds import build_seed_assets
from synth_assets.inference.label_words import check_label_words
from synth_assets.inference.resources import TeacherResource, resource_for
from synth_assets.spec import PipelineSpec, SpecError, TeacherSpec, load_spec
from synth_assets.storage.io_manager import WarehouseIOManager
from synth_assets.storage.location import Location, warehouse_location

PIPELINES_DIR = Path(__file__).parent / "pipelines"


def pipeline_assets(spec: PipelineSpec, root: Location) -> list:
    """Every asset of one pipeline, keyed <pipeline>/<table>, and the asset checks on them."""
    b = Build(spec, root)
    seed_files, *computed = build_seed_assets(b)
    computed += build_rounds(b)
    condition = on_real_change()
    checks = [*build_checks(b), *build_contamination_checks(b), *build_error_rate_checks(b)]
    return [seed_files, *map_asset_specs(lambda a: a.replace_attributes(automation_condition=condition), computed), *checks]


def teacher_resource(spec: PipelineSpec) -> TeacherResource:
    """The teacher the spec asks for; `fake` exists for unit tests and is never a shipped default."""
    return model_resource(spec.teacher)


def model_resource(t: TeacherSpec) -> TeacherResource:
    """A teacher-like resource (teacher or judge) for one model section of the spec."""
    return resource_for(t.backend, t.model_dump())


def observe_job_name(pipeline: str) -> str:
    return f"{pipeline}_observe_seed_files"


def default_spec_paths() -> list[Path]:
    """SYNTH_SPECS (os.pathsep-separated) or every example shipped in synth_assets/pipelines/."""
    env = os.environ.get("SYNTH_SPECS")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    return sorted(PIPELINES_DIR.glob("*.yaml"))


def default_warehouse() -> Location:
    """$SYNTH_WAREHOUSE (a folder or an s3:// URL), else ./warehouse."""
    return warehouse_location()


def build_definitions(specs: list[PipelineSpec], warehouse: Location, teachers: dict[str, TeacherResource] | None = None) -> Definitions:
    """Definitions for several pipelines sharing one warehouse; `teachers` overrides by pipeline name."""
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise SpecError(f"pipeline names must be unique in one warehouse, got {names}")
    teachers = teachers or {}
    assets, jobs, sensors, schedules = [], [], [], []
    resources = {"io_manager": WarehouseIOManager(root=str(warehouse))}
    for spec in specs:
        check_label_words(spec)  # label words the teacher cannot tell apart are refused before anything is built
        assets += pipeline_assets(spec, warehouse)
        resources[f"{spec.name}_teacher"] = teachers.get(spec.name) or teacher_resource(spec)
        if spec.filters.judge.enabled and spec.filters.judge.teacher is not None:
            resources[Build(spec, warehouse).judge_key] = model_resource(spec.filters.judge.teacher)
        all_job = define_asset_job(f"{spec.name}_all", selection=AssetSelection.groups(spec.name), description=spec.description or None)
        jobs.append(all_job)
        new_sensors, new_schedules = build_triggers(Build(spec, warehouse), all_job)
        sensors += new_sensors
        schedules += new_schedules
        jobs.append(define_asset_job(observe_job_name(spec.name), selection=AssetSelection.assets([spec.name, "seed_files"]),
                                     description="Hash the seed, pool and eval files so a change makes downstream stale."))
    return Definitions(assets=assets, jobs=jobs, resources=resources, sensors=sensors, schedules=schedules)


def load_definitions(spec_paths: list[Path] | None = None, warehouse: Path | None = None) -> Definitions:
    """What `definitions.py` and the CLI call: load and validate every spec before building anything."""
    specs = [load_spec(p) for p in (spec_paths or default_spec_paths())]
    return build_definitions(specs, warehouse or default_warehouse())
