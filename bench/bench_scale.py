"""How synth's data stages scale with the seed pool: wall, rows/s and peak memory per stage at 10k, 100k, 1M rows.

Run: .venv/bin/python bench/bench_scale.py [--rows 100000 ...] [--json PATH] [--dir PATH] [--servers 2]
Generates N seed rows of realistic length (60-100 words drawn Zipf-like from the sentiment example's
vocabulary, with 2 % exact and 2 % near duplicates), 10 % of them labelled, and 200 eval rows, then
materialises seeds -> expansions (label scoring of every row and one rephrasing per labelled seed:
1.2 N calls) -> filtered (exact + near dedup, decontamination, validity, confidence) ->
train_set against loopback OpenAI-compatible servers that answer at once (with logprobs for the
label scores). Each stage runs in a process of its own, so its peak RSS (VmHWM) is its own; the
process's RSS before the stage starts (Dagster, polars, the definitions) is printed beside it.
Then 1 % new pool rows are appended and the four stages run again: the teacher calls made and the
wall against the first run. Asserts nothing.
"""

from __future__ import annotations

import argparse
from collections import Counter
import json
import multiprocessing
import os
import queue
import resource
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import polars as pl
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "inference"))

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("seeds", "expansions", "filtered", "train_set")
LABELS = {"great": "great", "other": "bad"}
WORDS_PER_TEXT = (60, 100)
CHUNK = 100_000


def _vocabulary() -> np.ndarray:
    text = pl.read_csv(ROOT / "synth_assets/pipelines/data/sentiment_pool.csv")["review"].str.join(" ").item()
    counts = Counter(w.strip(".,!?\"'()").lower() for w in text.split())
    counts.pop("", None)
    return np.array([w for w, _ in counts.most_common()], dtype=object)


def _texts(rng: np.random.Generator, vocab: np.ndarray, n: int) -> list[str]:
    lengths = rng.integers(*WORDS_PER_TEXT, size=n)
    # by the words' frequency in real reviews, flattened at the head: long shared runs of words stay rare,
    # so decontamination finds only the planted duplicates
    weights = 1.0 / (np.arange(len(vocab)) + 20.0) ** 0.8
    words = vocab[rng.choice(len(vocab), size=int(lengths.sum()), p=weights / weights.sum())]
    ends = np.cumsum(lengths)
    return [" ".join(words[e - k:e]).capitalize() + "." for e, k in zip(ends, lengths)]


def _with_duplicates(rng: np.random.Generator, texts: list[str]) -> list[str]:
    """2 % exact copies and 2 % near copies (one word changed) of other rows."""
    n = len(texts)
    for i in rng.choice(n, size=n // 25, replace=False):
        source = texts[int(rng.integers(n))]
        if i % 2:
            texts[i] = source
        else:
            words = source.split()
            words[len(words) // 2] = "really"
            texts[i] = " ".join(words)
    return texts


def _write_parquet(path: Path, rng: np.random.Generator, vocab: np.ndarray, rows: int, labelled: bool) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [("text", pa.string())] + ([("label", pa.string())] if labelled else [])
    with pq.ParquetWriter(path, pa.schema(fields)) as writer:
        for start in range(0, rows, CHUNK):
            texts = _with_duplicates(rng, _texts(rng, vocab, min(CHUNK, rows - start)))
            columns = {"text": texts} | ({"label": [_gold(t) for t in texts]} if labelled else {})
            writer.write_table(pa.table(columns))


def write_data(work: Path, rows: int, seed: int = 0) -> None:
    """`rows` seed rows: 10 % labelled (seeds.parquet), the rest an unlabelled pool (pool.parquet); 200 eval rows."""
    rng, vocab = np.random.default_rng(seed), _vocabulary()
    texts = _texts(rng, vocab, 200)
    pl.DataFrame({"text": texts, "label": [_gold(t) for t in texts]}).write_csv(work / "test.csv")
    _write_parquet(work / "seeds.parquet", rng, vocab, rows // 10, labelled=True)
    _write_parquet(work / "pool.parquet", rng, vocab, rows - rows // 10, labelled=False)


def append_rows(work: Path, rows: int, seed: int = 1) -> None:
    """`rows` new pool rows at the end of pool.parquet (the 1 % rerun)."""
    rng, vocab = np.random.default_rng(seed), _vocabulary()
    old = pl.scan_parquet(work / "pool.parquet")
    new = pl.LazyFrame({"text": _texts(rng, vocab, rows)})
    pl.concat([old, new]).sink_parquet(work / "pool.next.parquet")
    os.replace(work / "pool.next.parquet", work / "pool.parquet")


def _gold(text: str) -> str:
    return "great" if zlib.crc32(text.encode()) % 2 else "other"


def answer(prompt: str, body: dict) -> tuple[str, list[tuple[str, float]]]:
    """The instant teacher: a label distribution drawn from the text, or the text lightly rephrased."""
    text = prompt.split("<text>")[-1].split("</text>")[0]
    if body.get("max_tokens") == 1:
        p = (sum(map(ord, text[:64])) % 89 + 5) / 100  # 0.05 .. 0.93
        first, second = ("great", "bad") if p > 0.5 else ("bad", "great")
        high = max(p, 1 - p)
        return first, [(first, float(np.log(high))), (second, float(np.log(1 - high)))]
    return "In other words: " + text, [("In", -0.1)]


def _serve(servers: int, urls: multiprocessing.Queue, stop) -> None:
    from openai_server import Fleet

    fleet = Fleet(servers, answer=answer, keep_records=False)
    urls.put(fleet.urls)
    stop.wait()
    fleet.close()


def spec_doc(work: Path, urls: list[str]) -> dict:
    prompt = "{instruction}\n\n<text>{input}</text>\n\n"
    return {
        "name": "scale", "description": "bench_scale", "task": "classification",
        "instruction": "Read this food product review.", "labels": list(LABELS), "label_words": LABELS,
        "seeds": [{"path": str(work / "seeds.parquet"), "input": "text", "target": "label"},
                  {"path": str(work / "pool.parquet"), "input": "text"}],
        "eval": {"path": str(work / "test.csv"), "input": "text", "target": "label", "metrics": ["accuracy"]},
        "teacher": {"backend": "openai", "model": "instant", "base_urls": urls, "batch_size": 256, "concurrency": 32},
        "strategies": [
            {"name": "label", "prompt": prompt + "Was the product great or bad? Answer with one word: {choices}."},
            {"name": "rephrase", "samples": 1, "verify_label": False, "prompt": prompt + "Rewrite the review in other words."},
        ],
        "filters": {"exact_dedup": True, "near_dedup": {"enabled": True},
                    "validity": {"min_chars": 20, "max_chars": 1500},
                    "confidence": {"calibrate": False, "min_precision": 0.5, "min_support": 8}},
        "student": {"kind": "tfidf_logreg"},
    }


def _memory_mb(field: str) -> float:
    """VmHWM (peak) or VmRSS (now) of this process. Not getrusage: its ru_maxrss carries the forking
    parent's peak across the exec of a spawned child, so a small stage would report the bench's own size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: an upper bound


def _stage(spec_path: str, warehouse: str, stage: str, out: multiprocessing.Queue) -> None:
    """One stage in this (fresh) process: its wall, its rows and its peak RSS."""
    from dagster import AssetKey, DagsterInstance

    from synth_assets.factory import build_definitions
    from synth_assets.runs import _materialize  # the CLI's own way to run a selection of assets
    from synth_assets.spec import load_spec

    spec = load_spec(Path(spec_path))
    defs = build_definitions([spec], Path(warehouse))
    base = _memory_mb("VmRSS")
    failures: list[str] = []
    started = time.perf_counter()
    ok = _materialize(defs, DagsterInstance.get(), [AssetKey([spec.name, stage])], failures=failures)
    wall = time.perf_counter() - started
    peak = _memory_mb("VmHWM")
    out.put({"ok": ok, "wall_s": wall, "peak_rss_mb": peak, "base_rss_mb": base, "failures": failures})


def run_stage(spec_path: Path, warehouse: Path, stage: str) -> dict:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_stage, args=(str(spec_path), str(warehouse), stage, out))
    proc.start()
    while True:
        try:
            result = out.get(timeout=1)
            break
        except queue.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"{stage}: its process died (exit code {proc.exitcode})") from None
    proc.join()
    if not result["ok"]:
        raise RuntimeError(f"{stage} failed: " + "; ".join(result["failures"]))
    result["rows"] = pl.scan_parquet(warehouse / "scale" / f"{stage}.parquet").select(pl.len()).collect().item()
    return result


def calls_made(warehouse: Path) -> int:
    """Teacher calls the last expansions run sent (rows not answered by the cache, one per unique call)."""
    table = pl.scan_parquet(warehouse / "scale" / "expansions.parquet")
    return table.filter(~pl.col("cache_hit")).select(pl.col("cache_key").n_unique()).collect().item()


def run_size(rows: int, base: Path, urls: list[str]) -> tuple[list[dict], dict]:
    work = base / f"n{rows}"
    work.mkdir(parents=True)
    os.environ["DAGSTER_HOME"] = str(work / "dagster")
    from synth_assets.instance import ensure_dagster_home

    ensure_dagster_home()
    write_data(work, rows)
    spec_path = work / "scale.yaml"
    spec_path.write_text(yaml.safe_dump(spec_doc(work, urls), sort_keys=False))
    warehouse = work / "warehouse"
    runs = []
    for stage in STAGES:
        r = run_stage(spec_path, warehouse, stage)
        runs.append({"rows": rows, "stage": stage, "wall_s": round(r["wall_s"], 2), "rows_per_s": round(r["rows"] / r["wall_s"], 1),
                     "peak_rss_mb": round(r["peak_rss_mb"], 1), "base_rss_mb": round(r["base_rss_mb"], 1), "out_rows": r["rows"]})
        print(f"{rows:>9} {stage:<11} {r['wall_s']:>9.1f} {r['rows'] / r['wall_s']:>10.0f} {r['peak_rss_mb']:>9.0f} "
              f"{r['base_rss_mb']:>9.0f} {r['rows']:>10}", flush=True)
    first_wall = sum(r["wall_s"] for r in runs)
    append_rows(work, max(rows // 100, 1))
    stage_walls = {stage: round(run_stage(spec_path, warehouse, stage)["wall_s"], 2) for stage in STAGES}
    rerun_wall = sum(stage_walls.values())
    rerun = {"rows": rows, "calls": calls_made(warehouse), "wall_s": round(rerun_wall, 2), "wall_ratio": round(rerun_wall / first_wall, 4),
             "stage_wall_s": stage_walls}
    print(f"{rows:>9} 1% rerun: {rerun['calls']} teacher calls, {rerun_wall:.1f} s = {rerun['wall_ratio']:.3f} of the first run "
          f"({', '.join(f'{k} {v:.1f} s' for k, v in stage_walls.items())})", flush=True)
    return runs, rerun


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="pool rows (repeatable; default 10000, 100000, 1000000)")
    parser.add_argument("--servers", type=int, default=2, help="loopback servers (one process, threads)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--dir", type=Path, help="work folder (default: a temp folder, removed after)")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    ctx = multiprocessing.get_context("spawn")
    url_queue, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(args.servers, url_queue, stop), daemon=True)
    server.start()
    urls = url_queue.get(timeout=60)
    runs, reruns = [], []
    print(f"{'rows':>9} {'stage':<11} {'wall_s':>9} {'rows/s':>10} {'peak_MB':>9} {'base_MB':>9} {'out_rows':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        base = args.dir or Path(tmp)
        try:
            for rows in args.rows or [10_000, 100_000, 1_000_000]:
                size_runs, rerun = run_size(rows, base, urls)
                runs += size_runs
                reruns.append(rerun)
        finally:
            stop.set()
            server.join(timeout=10)
    walls = {r["rows"]: sum(x["wall_s"] for x in runs if x["rows"] == r["rows"]) for r in reruns}
    if 100_000 in walls and 1_000_000 in walls:
        print(f"wall 1M / 100k: {walls[1_000_000] / walls[100_000]:.1f}x (target <= 12x)")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "rerun_1pct": reruns[-1] if reruns else None, "reruns": reruns}, indent=2))


if __name__ == "__main__":
    main()
