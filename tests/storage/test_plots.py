"""Charts in materialisation metadata: real PNGs, small, deterministic, showing what they claim."""

from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image

from pipeline_helpers import JobRun, tiny_job  # noqa: F401 (tiny_job is a fixture)
from synth_assets.storage.plots import MAX_PNG_BYTES, image_markdown, length_histogram, metric_bars

DATA_URI = re.compile(r"^!\[([^\]]+)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)$")


def _image(markdown: str) -> Image.Image:
    match = DATA_URI.match(markdown)
    assert match, markdown[:80]
    png = base64.b64decode(match.group(2))
    assert len(png) < MAX_PNG_BYTES
    return Image.open(io.BytesIO(png)).convert("RGB")


def _colours(img: Image.Image) -> int:
    return len(img.getcolors(maxcolors=1 << 20))


def test_length_histogram_is_a_small_deterministic_png() -> None:
    accepted, rejected = [20, 35, 40, 41, 90, 120], [5, 7, 300]
    png = length_histogram(accepted, rejected)
    assert png == length_histogram(accepted, rejected)
    img = _image(image_markdown(png, "lengths"))
    assert img.size == (400, 192) and _colours(img) > 50
    assert png != length_histogram(accepted, rejected[:1])


def test_charts_handle_empty_inputs() -> None:
    assert _colours(_image(image_markdown(length_histogram([], []), "empty"))) > 10
    assert _colours(_image(image_markdown(metric_bars({}, "nothing scored"), "empty"))) > 10


def test_oversized_chart_is_refused() -> None:
    with pytest.raises(ValueError, match="under 100000"):
        image_markdown(b"x" * (MAX_PNG_BYTES + 1), "huge")


def _materialisation_metadata(run: JobRun, table: str) -> dict:
    [event] = [e for e in run.result.get_asset_materialization_events() if e.asset_key.path[-1] == table]
    return event.materialization.metadata


def test_filtered_and_eval_scores_carry_their_charts(tiny_job: JobRun) -> None:
    filtered = _materialisation_metadata(tiny_job, "filtered")
    assert _colours(_image(filtered["length_histogram"].value)) > 50
    scores = _materialisation_metadata(tiny_job, "eval_scores")
    assert _colours(_image(scores["eval_delta"].value)) > 50
    expansions = _materialisation_metadata(tiny_job, "expansions")
    assert 0.0 <= expansions["cache_hit_rate"].value <= 1.0
