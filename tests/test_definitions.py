"""definitions.py exactly as `dagster dev` / `synth ui` load it: every shipped spec in one code location."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from synth_assets.factory import PIPELINES_DIR, load_definitions

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.stem for p in PIPELINES_DIR.glob("*.yaml"))


def _env(dagster_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SYNTH_SPECS", "SYNTH_WAREHOUSE")}
    return dict(env, DAGSTER_HOME=str(dagster_home))


def test_dagster_validates_the_shipped_definitions(tmp_path: Path, dagster_home: Path) -> None:
    # what the UI does first: load the code location from definitions.py with the default specs
    done = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-f", str(ROOT / "definitions.py")],
                          cwd=tmp_path, env=_env(dagster_home), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Validation successful for code location definitions.py" in done.stdout + done.stderr


def test_every_shipped_pipeline_is_its_own_group_with_unique_names(tmp_path: Path) -> None:
    defs = load_definitions(warehouse=tmp_path / "warehouse")
    graph = defs.resolve_asset_graph()
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups == set(SHIPPED), groups
    ops = [node.name for a in defs.assets for node in [a.node_def]]
    assert len(ops) == len(set(ops)), sorted(o for o in ops if ops.count(o) > 1)
    for pipeline in SHIPPED:
        defs.resolve_job_def(f"{pipeline}_all")
        assert defs.resolve_sensor_def(f"{pipeline}_seed_files_changed") is not None
