"""What reruns when, measured: teacher calls and wall time per kind of change, from one run.

Run: .venv/bin/python bench/bench_cache.py [--backend transformers|fake] [--seeds 100] [--pool 100]
Uses the shipped sentiment data, the embedded SmolLM2 teacher by default and the TF-IDF student
(so the numbers are about caching, not training). Prints one table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import polars as pl
import yaml
from dagster import DagsterInstance

from synth_assets.factory import build_definitions
from synth_assets.inference.cache import TeacherCache
from synth_assets.runs import materialize_all, materialize_stale
from synth_assets.spec import load_spec

DATA = Path(__file__).resolve().parents[1] / "synth_assets" / "pipelines" / "data"


def _cached_calls(warehouse: Path) -> int:
    shards = TeacherCache(warehouse).shards()
    return pl.read_parquet(shards).height if shards else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backend", default="transformers", choices=["transformers", "fake"])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--pool", type=int, default=100)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="synth-bench-cache-"))
    os.environ["DAGSTER_HOME"] = str(work / "dagster")
    (work / "dagster").mkdir()
    (work / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    seeds = pl.concat([pl.read_csv(DATA / "sentiment_seeds.csv"), pl.read_csv(DATA / "sentiment_test.csv").slice(100)])
    seeds.head(args.seeds).write_csv(work / "seeds.csv")
    pl.read_csv(DATA / "sentiment_pool.csv").head(args.pool).write_csv(work / "pool.csv")
    pl.read_csv(DATA / "sentiment_test.csv").head(50).write_csv(work / "test.csv")
    spec = yaml.safe_load((Path(__file__).resolve().parents[1] / "synth_assets" / "pipelines" / "sentiment.yaml").read_text())
    spec.update(
        seeds=[{"path": "seeds.csv", "input": "review", "target": "score"}, {"path": "pool.csv", "input": "review"}],
        eval={"path": "test.csv", "input": "review", "target": "score"},
        strategies=[spec["strategies"][0], {"name": "rephrase", "samples": 1, "max_new_tokens": 48}],
        student={"kind": "tfidf_logreg"},
    )
    spec["teacher"]["backend"] = args.backend
    spec_file = work / "spec.yaml"
    warehouse = work / "warehouse"
    instance = DagsterInstance.get()
    rows = []

    def step(name: str, stale_only: bool) -> None:
        s = load_spec(spec_file)
        defs = build_definitions([s], warehouse)
        before = _cached_calls(warehouse)
        start = time.perf_counter()
        outcome = (materialize_stale if stale_only else materialize_all)(defs, [s.name], instance, **({"log": lambda _m: None} if stale_only else {}))
        rows.append((name, _cached_calls(warehouse) - before, time.perf_counter() - start, outcome.materialised, outcome.success))

    def edit(**changes) -> None:
        doc = yaml.safe_load(spec_file.read_text())
        doc.update(changes)
        spec_file.write_text(yaml.safe_dump(doc, sort_keys=False))

    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    step("first run", stale_only=False)
    step("no change, run stale", stale_only=True)
    step("no change, forced full rerun", stale_only=False)
    new = max(1, args.seeds // 100)
    pl.read_csv(DATA / "sentiment_test.csv").slice(100 + args.seeds, new).write_csv(
        work / "extra.csv", include_header=False)
    with open(work / "seeds.csv", "a", encoding="utf-8") as fh:
        fh.write((work / "extra.csv").read_text())
    step(f"+{new} seed rows ({100 * new / args.seeds:.0f}%)", stale_only=True)
    edit(filters={**spec["filters"], "confidence": {"calibrate": True, "min_precision": 0.7, "min_support": 8}})
    step("filter threshold changed", stale_only=True)
    doc = yaml.safe_load(spec_file.read_text())
    doc["strategies"][1]["prompt"] = "Paraphrase this review, keeping its opinion:\n\n{input}"
    spec_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    step("rephrase prompt edited", stale_only=True)

    first_calls, first_wall = rows[0][1], rows[0][2]
    print(f"\nbackend={args.backend} seeds={args.seeds} pool={args.pool} eval=50  (work dir {work})")
    print(f"{'scenario':<32}{'teacher calls':>14}{'calls/first':>13}{'wall s':>9}{'wall/first':>12}{'assets run':>12}")
    for name, n_calls, wall, materialised, ok in rows:
        print(f"{name:<32}{n_calls:>14}{n_calls / first_calls:>13.3f}{wall:>9.1f}{wall / first_wall:>12.3f}{materialised:>12}{'' if ok else '  FAILED'}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
