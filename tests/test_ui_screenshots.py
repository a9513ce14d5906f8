"""The Dagster UI serves a materialised pipeline: the server lists its assets and checks, and Chromium renders real pages."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from PIL import Image

from spec_helpers import write_spec
from synth_assets.factory import PIPELINES_DIR

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "screenshots.py"
TABLES = {"seed_files", "seeds", "eval_set", "quarantine", "expansions", "filtered", "train_set",
          "student_checkpoint", "eval_scores", "eval_predictions"}


def _script():
    """scripts/ is not a package: load the script the way `python scripts/screenshots.py` would."""
    spec = importlib.util.spec_from_file_location("screenshots", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_ui_screenshots_of_a_materialised_pipeline(tmp_path: Path) -> None:
    screenshots = _script()
    chromium = screenshots.find_chromium()
    if chromium is None:
        pytest.skip("no Chromium binary found (chromium, chromium-browser, google-chrome or $SYNTH_CHROMIUM); "
                    "install it with `apt-get install -y chromium` to run this test")
    work = tmp_path / "project"
    work.mkdir()
    # served the way `synth ui` serves it: definitions.py with every shipped pipeline, plus the materialised one
    shipped = sorted(PIPELINES_DIR.glob("*.yaml"))
    shots = screenshots.capture(write_spec(tmp_path), tmp_path / "shots", work, chromium, also=shipped)

    # the code location loads, every pipeline is its own group, and the page shows no load error
    assert shots.location_errors == []
    assert shots.groups == {"tiny", *(p.stem for p in shipped)}
    assert "Error loading" not in shots.overview_text
    for group in shots.groups:
        assert group in shots.overview_text, f"group {group} not on the asset-groups page"

    # the server lists every asset of the pipeline, and the checks that ran with them
    assert set(shots.assets) == {f"tiny/{t}" for t in TABLES}
    checks = {name: {c["name"]: c["status"] for c in listed} for name, listed in shots.assets.items()}
    assert checks["tiny/filtered"] == {"schema": "SUCCEEDED", "acceptance_rate": "SUCCEEDED"}
    assert checks["tiny/train_set"] == {"schema": "SUCCEEDED", "rows_unique_and_labelled": "SUCCEEDED",
                                        "no_eval_contamination": "SUCCEEDED"}

    for path, window in ((shots.graph, screenshots.GRAPH_WINDOW), (shots.asset, screenshots.PAGE_WINDOW)):
        assert 20_000 < path.stat().st_size < 2_000_000, path
        img = Image.open(path).convert("RGB")
        assert img.size == window
        colours = img.getcolors(maxcolors=1 << 20)
        assert len(colours) > 200, f"{path.name} looks blank: {len(colours)} colours"
        # no dialog dims the page: the navigation's top-left corner is still white
        assert min(img.getpixel((5, 5))) > 240, f"{path.name}: page is covered, {img.getpixel((5, 5))} at the corner"
