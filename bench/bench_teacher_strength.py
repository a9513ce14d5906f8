"""Distillation across teacher strengths: what the student gains from a teacher of known accuracy (asserts nothing).

Run: .venv/bin/python bench/bench_teacher_strength.py [--quick] [--tasks sentiment,courses]
     [--accuracies 0.55,0.7,0.8,0.9,0.95] [--seeds 0,1,2] [--temperature 1.0]
     [--calibrate auto|true|false] [--rephrase] [--drift 0.25] [--json PATH]
The teacher is simulated (tests/inference/simulated_teacher.py): a loopback OpenAI-compatible server
that scores the label words from the gold labels, right with probability `accuracy` per text, with
margins larger on average when it is right. synth runs as a user runs it: one spec per pipeline in a
temp folder, the `openai` backend pointed at that server, the `label` strategy over the unlabelled
pool, materialised into one temp warehouse (teacher calls and checkpoints cached across pipelines).
Per task, teacher accuracy and student seed:
  seeds_only  the student trained on the labelled seeds alone
  hard        seeds + the teacher's pool labels that pass the confidence filter (threshold mode)
  soft        the same rows trained on the teacher's label distribution (student.distill.soft_labels)
  weighted    every pool label kept, weighted by its estimated precision (filters.confidence.mode: weight)
  gold        seeds + the whole pool with its true labels, as labelled seeds (the ceiling)
With --rephrase, two more: hard plus a `rephrase` strategy (2 rewrites per labelled seed), its rows
  rephrase_off  kept with the seed's label unchecked (verify_label: false)
  rephrase_on   kept only when the teacher's label of the rewrite is the seed's, confidently (verify_label, the default)
The simulated teacher rewrites a text by a light paraphrase and labels a rewrite against the gold label of the
text it paraphrases; `--drift` of the rewrites lose their meaning (they paraphrase a pool text of another label,
so the seed's label is wrong for them). Reported per variant: rewrites kept and the share whose label is right.
Reported: held-out accuracy and macro-F1, means over student seeds, and the share of the
seeds-only -> gold gap each variant closes. `--quick` trains the TF-IDF student; the default, MiniLM.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import yaml
from dagster import DagsterInstance

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "inference"))
from simulated_teacher import SimulatedTeacher, start  # noqa: E402  (the loopback server of the tests)
from teacher_strength_tasks import TASKS, Task, normalise  # noqa: E402

from synth_assets.factory import PIPELINES_DIR, build_definitions  # noqa: E402
from synth_assets.runs import materialize_all  # noqa: E402
from synth_assets.spec import load_spec  # noqa: E402

VARIANTS = ("hard", "soft", "weighted")
REPHRASE_VARIANTS = ("rephrase_off", "rephrase_on")
METRICS = ("accuracy", "macro_f1")


def _student(kind: str, seed: int) -> dict:
    """The shipped sentiment example's MiniLM settings, or the TF-IDF student with its defaults."""
    if kind == "encoder_classifier":
        return {**yaml.safe_load((PIPELINES_DIR / "sentiment.yaml").read_text())["student"], "seed": seed}
    return {"kind": kind, "seed": seed}


def spec_doc(task: Task, variant: str, url: str, model: str, student: dict, temperature: float,
             calibrate: bool | str = "auto") -> dict:
    """One pipeline spec: the task's seeds and pool, the simulated teacher, and the variant as spec overrides."""
    pool = ({"path": f"{task.name}/pool_gold.csv", "input": "text", "target": "label"} if variant == "gold"
            else {"path": f"{task.name}/pool.csv", "input": "text"})
    confidence: dict = {"calibrate": calibrate, "min_precision": 0.8, "min_support": 8}
    if variant == "weighted":
        confidence["mode"] = "weight"
    if variant == "soft":
        student = {**student, "distill": {"soft_labels": True, "temperature": temperature}}
    strategies = [{"name": "label", "prompt": "{instruction}\n\n<text>{input}</text>\n\n" + task.question + " {choices}."}]
    filters: dict = {"exact_dedup": True, "confidence": confidence}
    if variant in REPHRASE_VARIANTS:
        strategies.append({"name": "rephrase", "samples": 2, "verify_label": variant == "rephrase_on",
                           "prompt": "{instruction}\n\nRewrite the text in other words, keeping its meaning.\n\n<text>{input}</text>"})
        # a rewrite that lost its meaning paraphrases a pool text: it must not be dropped as that text's near
        # duplicate before the label check sees it, as a real lost-meaning rewrite would not be
        filters["near_dedup"] = {"enabled": False}
    return {
        "name": f"ts_{task.name}_{variant.replace('rephrase_', 'rp')}_{model.replace('.', '').replace('-', '_')}_s{student['seed']}",
        "description": f"teacher-strength bench: {task.name}, {variant}, {model}",
        "task": "classification", "instruction": task.instruction, "labels": task.labels, "label_words": task.label_words,
        "seeds": [{"path": f"{task.name}/seeds.csv", "input": "text", "target": "label"}, pool],
        "eval": {"path": f"{task.name}/test.csv", "input": "text", "target": "label", "metrics": list(METRICS)},
        "teacher": {"backend": "openai", "model": model, "base_urls": [url], "batch_size": 64, "concurrency": 8},
        # the text between markers, so the simulated teacher finds what it is asked to label (or rewrite)
        "strategies": strategies,
        "filters": filters,
        "student": student,
    }


def run_specs(work: Path, warehouse: Path, docs: list[dict], instance: DagsterInstance) -> dict[str, dict[str, dict[str, float]]]:
    """Materialise the pipelines in one Dagster run; eval_scores of each as {pipeline: {model: {metric: value}}}."""
    specs = []
    for doc in docs:
        path = work / f"{doc['name']}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        specs.append(load_spec(path))
    outcome = materialize_all(build_definitions(specs, warehouse), [s.name for s in specs], instance)
    for line in outcome.failures:  # warnings (e.g. weight mode accepting every row) are expected here
        if not line.startswith("warning "):
            print(f"  {line}")
    scores = {}
    for spec in specs:
        path = warehouse / spec.name / "eval_scores.parquet"
        if not path.exists():
            print(f"  {spec.name}: no eval_scores (the run failed; see above)")
            continue
        table = pl.read_parquet(path)
        scores[spec.name] = {m: dict(table.filter(pl.col("model") == m).select("metric", "value").iter_rows())
                             for m in table["model"].unique()}
    return scores


def kept_labels(warehouse: Path, name: str, task: Task) -> tuple[int | None, float | None]:
    """How many teacher pool labels a pipeline's train_set holds, and the share of them that are right."""
    path = warehouse / name / "train_set.parquet"
    if not path.exists():
        return None, None
    rows = pl.read_parquet(path).filter(pl.col("origin") == "expansion")
    gold = dict(task.pool.select(pl.col("text").map_elements(normalise, return_dtype=pl.String), "label").iter_rows())
    right = [gold.get(normalise(t)) == y for t, y in rows.select("input", "target").iter_rows()]
    return rows.height, (sum(right) / len(right) if right else None)


def kept_rewrites(warehouse: Path, name: str, teacher: SimulatedTeacher, task: Task) -> tuple[int | None, float | None]:
    """How many rewrites a pipeline's train_set holds, and the share whose label is the gold one of the text they paraphrase."""
    path = warehouse / name / "train_set.parquet"
    if not path.exists():
        return None, None
    rows = pl.read_parquet(path).filter(pl.col("origin") == "expansion")
    right = [teacher.gold_of(t) == task.label_words[y] for t, y in rows.select("input", "target").iter_rows()
             if normalise(t) in teacher.rewrites]
    return len(right), (sum(right) / len(right) if right else None)


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.mean(kept) if kept else None


def _sd(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.pstdev(kept) if len(kept) > 1 else None


def _gap(value: float | None, low: float | None, high: float | None) -> float | None:
    """Share of the seeds-only -> gold gap closed; None where there is no gap to close."""
    if value is None or low is None or high is None or abs(high - low) < 1e-9:
        return None
    return (value - low) / (high - low)


def materialise_task(task: Task, work: Path, warehouse: Path, accuracies: list[float], seeds: list[int], kind: str,
                     overrides: dict, instance: DagsterInstance, rephrase: bool = False,
                     drift: float = 0.0) -> tuple[dict, dict, dict[float, SimulatedTeacher]]:
    """Every variant of one task at every accuracy and seed, one simulated teacher (server) per accuracy.

    Returns the scores by pipeline, the pipeline of each (variant, accuracy, seed) and the teacher of each
    accuracy (which remembers its rewrites). The gold ceiling does not depend on the teacher (its pool is
    labelled): it runs once per seed, beside the strongest teacher. `rephrase`: the REPHRASE_VARIANTS too.
    """
    task.write(work / task.name)
    words = list(task.label_words.values())
    donors = tuple(task.pool["text"])
    teachers = {a: SimulatedTeacher(task.gold_words(), words, a, drift=drift, donors=donors) for a in accuracies}
    fleets = {a: start(t) for a, t in teachers.items()}
    extra = REPHRASE_VARIANTS if rephrase else ()
    try:
        docs, where = [], {}
        for seed in seeds:
            for a in accuracies:
                for variant in (*VARIANTS, *extra, *(["gold"] if a == accuracies[-1] else [])):
                    doc = spec_doc(task, variant, fleets[a].urls[0], f"simulated-{a:.2f}", _student(kind, seed), **overrides)
                    docs.append(doc)
                    where[(variant, a, seed)] = doc["name"]
        return run_specs(work, warehouse, docs, instance), where, teachers
    finally:
        for fleet in fleets.values():
            fleet.close()


def summarise(task: Task, warehouse: Path, scores: dict, where: dict, accuracies: list[float], seeds: list[int],
              teachers: dict[float, SimulatedTeacher] | None = None) -> list[dict]:
    """One row per accuracy: each variant's mean over seeds (and its spread), and the gap it closes."""
    variants = [*VARIANTS, *(v for v in REPHRASE_VARIANTS if (v, accuracies[0], seeds[0]) in where)]
    def over_seeds(variant: str, a: float, model: str, metric: str) -> list[float | None]:
        return [scores.get(where[(variant, a, s)], {}).get(model, {}).get(metric) for s in seeds]

    rows = []
    for a in accuracies:
        row: dict = {"task": task.name, "teacher_accuracy": a, "pool": task.pool.height, "test": task.test.height,
                     "teacher_measured": _mean(over_seeds("hard", a, "teacher", "accuracy"))}
        # the confidence filter's work, from the first seed's hard pipeline (the same labels for every seed)
        row["hard_labels_kept"], row["hard_labels_right"] = kept_labels(warehouse, where[("hard", a, seeds[0])], task)
        for v in variants[len(VARIANTS):]:  # the rephrase variants: the rewrites they kept, and how many are right
            row[f"{v}_rewrites_kept"], row[f"{v}_rewrites_right"] = kept_rewrites(warehouse, where[(v, a, seeds[0])],
                                                                                  teachers[a], task)
        for metric in METRICS:
            sfx = "" if metric == "accuracy" else f"_{metric}"
            per_seed = {"seeds_only": over_seeds("hard", a, "student_seeds_only", metric),
                        "gold": over_seeds("gold", accuracies[-1], "student_synthetic", metric),
                        **{v: over_seeds(v, a, "student_synthetic", metric) for v in variants}}
            for name, values in per_seed.items():
                row[f"{name}{sfx}"] = _mean(values)
                if metric == "accuracy":
                    row[f"{name}_sd"] = _sd(values)
            for variant in variants:
                row[f"{variant}_gap_closed{sfx}"] = _gap(row[f"{variant}{sfx}"], row[f"seeds_only{sfx}"], row[f"gold{sfx}"])
        rows.append(row)
    return rows


def _fmt(v: float | None, width: int = 8) -> str:
    return f"{v:>{width}.3f}" if v is not None else f"{'-':>{width}}"


def print_table(rows: list[dict], metric: str) -> None:
    sfx = "" if metric == "accuracy" else f"_{metric}"
    cols = ["seeds_only", *VARIANTS, "gold"]
    print(f"\n== held-out {metric}, mean over student seeds. measured: the teacher's accuracy on the test split; "
          "kept / right: pool labels the confidence filter kept (hard) and their precision; "
          "gap: share of the seeds-only -> gold gap closed")
    print(f"{'task':<10}{'teacher':>8}{'measured':>9}{'kept':>6}{'right':>7}" + "".join(f"{c:>11}" for c in cols)
          + "".join(f"{'gap ' + v:>13}" for v in VARIANTS))
    for r in rows:
        kept = f"{r['hard_labels_kept']:>6}" if r["hard_labels_kept"] is not None else f"{'-':>6}"
        print(f"{r['task']:<10}{r['teacher_accuracy']:>8.2f}{_fmt(r['teacher_measured'], 9)}{kept}{_fmt(r['hard_labels_right'], 7)}"
              + "".join(_fmt(r[c + sfx], 11) for c in cols) + "".join(_fmt(r[f'{v}_gap_closed{sfx}'], 13) for v in VARIANTS))


def print_rephrase_table(rows: list[dict]) -> None:
    """verify_label off vs on: the rewrites each kept, the share of them whose label is right, and held-out scores."""
    if not rows or "rephrase_on" not in rows[0]:
        return
    print("\n== rephrase rows, verify_label off vs on (hard mode). rewrites: kept in train_set / right: share whose "
          "seed label is the gold label of the text they paraphrase; acc / F1: held-out")
    print(f"{'task':<10}{'teacher':>8}" + "".join(f"{h:>10}" for h in ("off kept", "off right", "off acc", "off F1",
                                                                      "on kept", "on right", "on acc", "on F1", "Δ acc", "Δ F1")))
    for r in rows:
        cells = []
        for v in REPHRASE_VARIANTS:
            kept = r[f"{v}_rewrites_kept"]
            cells += [f"{kept:>10}" if kept is not None else f"{'-':>10}", _fmt(r[f"{v}_rewrites_right"], 10),
                      _fmt(r[v], 10), _fmt(r[f"{v}_macro_f1"], 10)]
        diff = [None if r[f"rephrase_on{m}"] is None or r[f"rephrase_off{m}"] is None else r[f"rephrase_on{m}"] - r[f"rephrase_off{m}"]
                for m in ("", "_macro_f1")]
        print(f"{r['task']:<10}{r['teacher_accuracy']:>8.2f}" + "".join(cells) + "".join(_fmt(d, 10) for d in diff))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="TF-IDF student, accuracies 0.55,0.9, one student seed (about 1.5 minutes on 2 cores)")
    ap.add_argument("--tasks", default="sentiment,courses", help=f"comma-separated, of {', '.join(TASKS)}")
    ap.add_argument("--accuracies", help="teacher accuracies (default 0.55,0.7,0.8,0.9,0.95)")
    ap.add_argument("--seeds", help="student training seeds (student.seed; default 0,1,2)")
    ap.add_argument("--student", choices=["encoder_classifier", "tfidf_logreg"], help="default: encoder_classifier, tfidf_logreg with --quick")
    ap.add_argument("--temperature", type=float, default=1.0, help="student.distill.temperature of the soft variant")
    ap.add_argument("--calibrate", choices=["auto", "true", "false"], default="auto",
                    help="filters.confidence.calibrate (auto, the shipped default: whichever labels the seeds better)")
    ap.add_argument("--rephrase", action="store_true",
                    help="also run the rephrase_off / rephrase_on variants: rewrites kept unchecked vs checked by the teacher")
    ap.add_argument("--drift", type=float, default=0.25,
                    help="with --rephrase: the share of the simulated teacher's rewrites that lose their meaning")
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args()
    accuracies = sorted(float(x) for x in (args.accuracies or ("0.55,0.9" if args.quick else "0.55,0.7,0.8,0.9,0.95")).split(","))
    seeds = [int(x) for x in (args.seeds or ("0" if args.quick else "0,1,2")).split(",")]
    kind = args.student or ("tfidf_logreg" if args.quick else "encoder_classifier")
    work = Path(tempfile.mkdtemp(prefix="synth-bench-teacher-strength-"))
    # no step-by-step log; failed steps and checks are printed from the run's outcome
    instance = DagsterInstance.ephemeral(settings={"python_logs": {"python_log_level": "ERROR"}})
    started = time.perf_counter()
    calibrate = {"true": True, "false": False}.get(args.calibrate, "auto")
    overrides = {"temperature": args.temperature, "calibrate": calibrate}
    rows = []
    for name in args.tasks.split(","):
        task = TASKS[name]()
        scores, where, teachers = materialise_task(task, work, work / "warehouse", accuracies, seeds, kind, overrides,
                                                   instance, rephrase=args.rephrase, drift=args.drift)
        rows += summarise(task, work / "warehouse", scores, where, accuracies, seeds, teachers)
    for metric in METRICS:
        print_table(rows, metric)
    print_rephrase_table(rows)
    print(f"\n{kind} student, seeds {seeds}, {time.perf_counter() - started:.0f} s; work folder {work}")
    if args.json:
        settings = {"student": kind, "seeds": seeds, "accuracies": accuracies, **overrides,
                    **({"rephrase": True, "drift": args.drift} if args.rephrase else {})}
        args.json.write_text(json.dumps({"settings": settings, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
