"""Hard vs soft vs weighted labels from the real weak teacher: the shipped sentiment example, three ways.

Run: .venv/bin/python bench/bench_distill_modes.py [--seeds 0,1,2] [--warehouse DIR] [--json PATH]
Materialises `synth_assets/pipelines/sentiment.yaml` (the embedded SmolLM2-135M teacher, the MiniLM
student) once per mode and student seed, all into one warehouse, so the teacher's label calls are
made once and every other pipeline reads them from the shared teacher cache:
- hard: the spec as shipped, with `filters.confidence.mode: threshold` and no distillation;
- soft: `student.distill.soft_labels: true` (teacher-labelled rows learn the teacher's distribution);
- weighted: `filters.confidence.mode: weight` (rows weighted by the teacher's estimated precision at their margin).
Each mode keeps the rest of the spec (strategies, filters, student) as shipped. Prints held-out
accuracy and macro-F1 of the seeds-only and synthetic-data students, the mean over student seeds and
each seed's value, plus the teacher's own score; asserts nothing. `--json PATH` writes
`{"rows": [{"mode", "seed", "accuracy", "macro_f1"}, ...], "seeds_only": [...], "teacher": {...}}`.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import yaml
from dagster import DagsterInstance

from synth_assets.factory import PIPELINES_DIR
from synth_assets.runs import materialize_specs
from synth_assets.spec import load_spec

MODES = ("hard", "soft", "weighted")


def variant(doc: dict, mode: str, seed: int) -> dict:
    """The shipped spec in one mode, for one student seed, under its own pipeline name."""
    out = copy.deepcopy(doc)
    out["name"] = f"{doc['name']}_{mode}_s{seed}"
    student = out.setdefault("student", {})
    student["seed"] = seed
    confidence = out.setdefault("filters", {}).setdefault("confidence", {})
    distill = student.setdefault("distill", {})
    confidence["mode"] = "weight" if mode == "weighted" else "threshold"
    distill["soft_labels"] = mode == "soft"
    return out


def write_specs(work: Path, modes: list[str], seeds: list[int]) -> list[Path]:
    """One spec file per (mode, seed) beside copies of the example's data (a spec reads only under its folder)."""
    shipped = PIPELINES_DIR / "sentiment.yaml"
    doc = yaml.safe_load(shipped.read_text())
    for source in [*doc["seeds"], doc["eval"]]:
        (work / source["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shipped.parent / source["path"], work / source["path"])
    paths = []
    for seed in seeds:
        for mode in modes:
            path = work / f"sentiment_{mode}_s{seed}.yaml"
            path.write_text(yaml.safe_dump(variant(doc, mode, seed), sort_keys=False))
            paths.append(path)
    return paths


def scores(warehouse: Path, name: str) -> dict[str, dict[str, float]]:
    """model -> metric -> value of round 0's eval_scores."""
    with duckdb.connect(str(warehouse / "synth.duckdb"), read_only=True) as con:
        rows = con.execute(f'select model, metric, value from "{name}".eval_scores where round = 0').fetchall()
    out: dict[str, dict[str, float]] = {}
    for model, metric, value in rows:
        out.setdefault(model, {})[metric] = value
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", default="0,1,2", help="student seeds (comma-separated)")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--warehouse", help="reuse this warehouse (and its caches) instead of a fresh one")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    modes = [m for m in args.modes.split(",") if m]
    work = Path(tempfile.mkdtemp(prefix="synth-bench-distill-"))
    warehouse = Path(args.warehouse).resolve() if args.warehouse else work / "warehouse"
    instance = DagsterInstance.ephemeral()
    results: dict[tuple[str, int], dict[str, dict[str, float]]] = {}
    for path in write_specs(work, modes, seeds):
        spec = load_spec(path)
        started = time.perf_counter()
        outcome = materialize_specs([spec], warehouse, instance)
        if not outcome.success:
            print(f"{spec.name}: the run FAILED; see the log above")
            continue
        mode, seed = spec.name.split("_")[-2], int(spec.name.rsplit("_s", 1)[1])
        results[(mode, seed)] = scores(warehouse, spec.name)
        print(f"{spec.name}: {time.perf_counter() - started:.0f} s")

    rows, seeds_only = [], []
    print(f"\n{'student':<12}{'accuracy':>10}{'macro-F1':>10}   per seed (accuracy)")

    def line(label: str, values: list[dict[str, float]]) -> None:
        acc = [v["accuracy"] for v in values]
        f1 = [v["macro_f1"] for v in values]
        per_seed = " ".join(f"{a:.3f}" for a in acc)
        print(f"{label:<12}{statistics.mean(acc):>10.3f}{statistics.mean(f1):>10.3f}   {per_seed}")

    by_seed_only = [results[(m, s)]["student_seeds_only"] for s in seeds for m in modes[:1] if (m, s) in results]
    if by_seed_only:
        line("seeds only", by_seed_only)
        seeds_only = [{"seed": s, **results[(modes[0], s)]["student_seeds_only"]} for s in seeds if (modes[0], s) in results]
    for mode in modes:
        done = [(s, results[(mode, s)]["student_synthetic"]) for s in seeds if (mode, s) in results]
        if done:
            line(mode, [v for _, v in done])
            rows += [{"mode": mode, "seed": s, **v} for s, v in done]
    teacher = next(iter(results.values()), {}).get("teacher", {})
    if teacher:
        print(f"{'teacher':<12}{teacher['accuracy']:>10.3f}{teacher['macro_f1']:>10.3f}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "seeds_only": seeds_only, "teacher": teacher}, indent=2))


if __name__ == "__main__":
    main()
