"""The Dagster instance the CLI and `dagster dev` share, so the UI shows CLI runs and staleness."""

from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock

# telemetry off; nux off: the first-visit "join the community" dialog would cover the asset graph
DAGSTER_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"


def ensure_dagster_home(default: Path | None = None) -> Path:
    """DAGSTER_HOME, defaulting to ./.dagster, created with telemetry off and its storage ready if it does not exist."""
    from dagster import DagsterInstance

    home = Path(os.environ.get("DAGSTER_HOME") or default or Path.cwd() / ".dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    # Two commands started together on a new home would both write the config and both run the SQLite
    # storage's first migration, which then has two heads and fails: the first one sets it up alone.
    with FileLock(home / ".synth-init.lock"):
        config = home / "dagster.yaml"
        if not config.exists():
            config.write_text(DAGSTER_YAML)
        DagsterInstance.get().dispose()
    return home
