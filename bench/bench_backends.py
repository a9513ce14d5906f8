"""Backend overheads, as ratios measured in one run (asserts nothing).

Run: .venv/bin/python bench/bench_backends.py [--rows 48] [--http-rows 300]
1. pipeline `expand` throughput ÷ raw TransformersBackend throughput on the same requests (goal ≥ 0.9)
2. batched ÷ batch-1 generated tokens/s through the pipeline (goal ≥ 8×)
3. OpenAIBackend ÷ a plain async httpx client at the same concurrency, same loopback server (goal ≥ 0.9)
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx2
import polars as pl
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "inference"))

from openai_server import Fleet  # noqa: E402  (the loopback OpenAI-compatible server of the tests)

from synth_assets.inference.base import GenerationRequest, SamplingParams  # noqa: E402
from synth_assets.inference.cache import TeacherCache  # noqa: E402
from synth_assets.inference.openai_backend import OpenAIBackend, _payload  # noqa: E402
from synth_assets.inference.transformers_backend import TransformersBackend  # noqa: E402
from synth_assets.spec import load_spec  # noqa: E402
from synth_assets.strategies import STRATEGIES, Seed  # noqa: E402
from synth_assets.strategies.expand import expand  # noqa: E402

DATA = ROOT / "synth_assets" / "pipelines" / "data"
MAX_NEW = 32


def _spec(work: Path, batch_size: int):
    doc = yaml.safe_load((ROOT / "synth_assets" / "pipelines" / "sentiment.yaml").read_text())
    for name in ("sentiment_seeds.csv", "sentiment_test.csv"):  # a spec reads only files under its own folder
        shutil.copyfile(DATA / name, work / name)
    doc["seeds"] = [{"path": "sentiment_seeds.csv", "input": "review", "target": "score"}]
    doc["eval"] = {"path": "sentiment_test.csv", "input": "review", "target": "score"}
    doc["strategies"] = [{"name": "rephrase", "samples": 1, "max_new_tokens": MAX_NEW, "temperature": 0.0}]
    doc["teacher"]["batch_size"] = batch_size
    path = work / f"spec-{batch_size}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_spec(path)


def _seeds(n: int) -> pl.DataFrame:
    df = pl.read_csv(DATA / "sentiment_seeds.csv").head(n)
    return df.select(pl.int_range(pl.len()).cast(pl.String).alias("seed_id"), pl.col("review").alias("input"),
                     pl.col("score").alias("target"))


def pipeline_vs_raw(backend: TransformersBackend, work: Path, rows: int, batch: int) -> tuple[float, float]:
    """Generated tokens/s of `expand` (cache, parsing, rows) and of the backend alone, same requests."""
    spec = _spec(work, batch)
    seeds = _seeds(rows)
    cfg = spec.strategies[0]
    requests = [STRATEGIES["rephrase"].request(spec, cfg, Seed(r["seed_id"], r["input"], r["target"]), 0)
                for r in seeds.iter_rows(named=True)]
    # the same order the pipeline's runner uses (by prompt length), so the ratio is the pipeline's overhead
    requests.sort(key=lambda r: sum(len(m[1]) for m in r.messages))
    start = time.perf_counter()
    raw_tokens = sum(r.tokens_out for i in range(0, len(requests), batch) for r in backend.generate(requests[i:i + batch]))
    raw = raw_tokens / (time.perf_counter() - start)
    start = time.perf_counter()
    df, _ = expand(spec, seeds, backend, TeacherCache(work / f"wh-{batch}-{time.time_ns()}"), batch)
    piped = int(df["tokens_out"].sum()) / (time.perf_counter() - start)
    return piped, raw


async def _plain_client(urls: list[str], bodies: list[dict], concurrency: int) -> None:
    sem = asyncio.Semaphore(concurrency)
    async with httpx2.AsyncClient(timeout=60) as client:
        async def one(i: int, body: dict) -> None:
            async with sem:
                r = await client.post(f"{urls[i % len(urls)]}/chat/completions", json=body)
                r.raise_for_status()
                r.json()["choices"][0]["message"]["content"]
        await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))


def http_vs_plain(n: int, concurrency: int = 8) -> tuple[float, float, int]:
    fleet = Fleet(n=2, delay_s=0.02)  # 20 ms per completion stands in for an engine's latency
    try:
        requests = [GenerationRequest(messages=(("user", f"request number {i}"),), params=SamplingParams(max_new_tokens=8))
                    for i in range(n)]
        backend = OpenAIBackend("teacher", fleet.urls, concurrency=concurrency)
        start = time.perf_counter()
        results = backend.generate(requests)
        ours = n / (time.perf_counter() - start)
        bodies = [_payload("teacher", r) for r in requests]
        start = time.perf_counter()
        asyncio.run(_plain_client(fleet.urls, bodies, concurrency))
        plain = n / (time.perf_counter() - start)
        return ours, plain, sum(not r.ok for r in results)
    finally:
        fleet.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=48)
    ap.add_argument("--http-rows", type=int, default=300)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="synth-bench-backends-"))
    backend = TransformersBackend("embedded:smollm2-135m-instruct", batch_size=16)
    backend.load()
    backend.generate([GenerationRequest(messages=(("user", "warm up"),), params=SamplingParams(max_new_tokens=4))])
    piped, raw = pipeline_vs_raw(backend, work, args.rows, 16)
    b1_piped, _ = pipeline_vs_raw(TransformersBackend("embedded:smollm2-135m-instruct", batch_size=1), work, 8, 1)
    ours, plain, errors = http_vs_plain(args.http_rows)
    print(f"\n{'measure':<58}{'value':>12}")
    print(f"{'transformers raw, batch 16 (generated tok/s)':<58}{raw:>12.1f}")
    print(f"{'pipeline expand, batch 16 (generated tok/s)':<58}{piped:>12.1f}")
    print(f"{'  pipeline ÷ raw':<58}{piped / raw:>12.3f}")
    print(f"{'pipeline expand, batch 1 (generated tok/s)':<58}{b1_piped:>12.1f}")
    print(f"{'  batched ÷ batch-1 through the pipeline':<58}{piped / b1_piped:>12.2f}")
    print(f"{'OpenAIBackend, concurrency 8 (requests/s)':<58}{ours:>12.1f}")
    print(f"{'plain httpx async client, concurrency 8 (requests/s)':<58}{plain:>12.1f}")
    print(f"{'  OpenAIBackend ÷ plain client':<58}{ours / plain:>12.3f}   ({errors} error rows)")


if __name__ == "__main__":
    main()
