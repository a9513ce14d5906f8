"""The specs the benchmarks derive from the shipped example still load: a spec rule added later must not break a bench."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import bench_backends  # noqa: E402
import bench_distill_modes  # noqa: E402

from synth_assets.spec import load_spec  # noqa: E402


def test_bench_backends_rephrase_spec_loads(tmp_path: Path) -> None:
    spec = bench_backends._spec(tmp_path, 16, max_new=96)
    assert [s.name for s in spec.strategies] == ["rephrase"]
    assert (spec.teacher.batch_size, spec.strategies[0].max_new_tokens) == (16, 96)


def test_bench_distill_modes_specs_load(tmp_path: Path) -> None:
    paths = bench_distill_modes.write_specs(tmp_path, list(bench_distill_modes.MODES), [0])
    specs = [load_spec(p) for p in paths]
    assert [(s.filters.confidence.mode, s.student.distill.soft_labels) for s in specs] == [
        ("threshold", False), ("threshold", True), ("weight", False)]
