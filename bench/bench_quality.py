"""Does the synthetic data help? Seeds-only student vs synthetic-data student (and each round), with its cost.

Run: .venv/bin/python bench/bench_quality.py [--spec synth_assets/pipelines/sentiment.yaml ...] [--rounds 1]
Materialises each example spec end to end in a fresh warehouse (real teacher, real students; the
row and checkpoint caches of a previous run are reused when --warehouse is given), then prints, per
pipeline: every model's score on the held-out set by round, the gain of each student over the
seeds-only student, and the teacher cost behind it from the cost ledger. Asserts nothing: with the
135M embedded teacher on a CPU the gains can be small or negative, and that is the honest result.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import yaml
from dagster import DagsterInstance

from synth_assets.factory import PIPELINES_DIR
from synth_assets.runs import materialize_specs
from synth_assets.spec import load_spec


def _with_rounds(path: Path, rounds: int, work: Path) -> Path:
    """A copy of the spec with rounds.max_rounds set, its data files copied beside it (a spec reads only under its folder)."""
    doc = yaml.safe_load(path.read_text())
    if rounds:
        doc.setdefault("rounds", {})["max_rounds"] = rounds
    for source in [*doc["seeds"], doc["eval"]]:
        (work / source["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path.parent / source["path"], work / source["path"])
    out = work / path.name
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def report(warehouse: Path, name: str, seconds: float) -> None:
    with duckdb.connect(str(warehouse / "synth.duckdb"), read_only=True) as con:
        metric = con.execute(f"select metric from {name}.eval_by_round limit 1").fetchone()[0]
        rows = con.execute(f"""
            select round, model, max(value) filter (where metric = ?) as main, n
            from {name}.eval_by_round group by round, model, n order by round, model""", [metric]).fetchall()
        costs = con.execute(f"""
            select round, sum(rows), sum(new_calls), sum(tokens_in), sum(tokens_out), sum(engine_seconds), sum(cost_usd)
            from {name}.costs group by round order by round""").fetchall()
    seeds_only = next((v for r, m, v, _ in rows if m == "student_seeds_only"), None)
    print(f"\n== {name}  ({metric} on {rows[0][3]} held-out rows; pipeline {seconds:.0f} s)")
    print(f"{'round':>5}  {'model':<26}{metric:>14}{'vs seeds-only':>15}")
    for rnd, model, value, _ in rows:
        gain = "" if seeds_only is None or not model.startswith("student") else f"{value - seeds_only:+.3f}"
        print(f"{rnd:>5}  {model:<26}{value:>14.3f}{gain:>15}")
    print(f"{'round':>5}  {'teacher rows':>12}{'new calls':>10}{'tokens in':>11}{'tokens out':>11}{'engine s':>10}{'USD':>9}")
    for rnd, n, new, tin, tout, secs, usd in costs:
        print(f"{rnd:>5}  {n:>12}{new:>10}{tin:>11}{tout:>11}{secs:>10.1f}{usd:>9.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--spec", action="append", help="spec paths (default: every shipped example)")
    ap.add_argument("--rounds", type=int, default=1, help="error-driven rounds to add to each spec (0: none)")
    ap.add_argument("--warehouse", help="reuse this warehouse (and its caches) instead of a fresh one")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="synth-bench-quality-"))
    warehouse = Path(args.warehouse).resolve() if args.warehouse else work / "warehouse"
    paths = [Path(p) for p in args.spec] if args.spec else sorted(PIPELINES_DIR.glob("*.yaml"))
    instance = DagsterInstance.ephemeral()
    for path in paths:
        spec = load_spec(_with_rounds(path.resolve(), args.rounds, work))
        started = time.perf_counter()
        outcome = materialize_specs([spec], warehouse, instance)
        if not outcome.success:
            print(f"\n== {spec.name}: the run FAILED; see the log above")
            continue
        report(warehouse, spec.name, time.perf_counter() - started)


if __name__ == "__main__":
    main()
