"""The Dagster instance the CLI and `dagster dev` share, so the UI shows CLI runs and staleness."""

from __future__ import annotations

import os
from pathlib import Path

# telemetry off; nux off: the first-visit "join the community" dialog would cover the asset graph
DAGSTER_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"


def ensure_dagster_home(default: Path | None = None) -> Path:
    """DAGSTER_HOME, defaulting to ./.dagster, created with telemetry off if it does not exist."""
    home = Path(os.environ.get("DAGSTER_HOME") or default or Path.cwd() / ".dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
