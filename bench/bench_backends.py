"""Backend overheads, as ratios measured in one run (asserts nothing).

Run: .venv/bin/python bench/bench_backends.py [--rows 48] [--dtype float32] [--max-new 32] [--http-only] [--json PATH]
1. pipeline `expand` throughput ÷ raw TransformersBackend throughput on the same requests (goal ≥ 0.9)
2. batched ÷ batch-1 generated tokens/s through the pipeline (goal ≥ 8×), with where the time goes:
   the prefill share (the same requests with max_new_tokens 1) at batch 16 and at batch 1. The
   standard workload is the sentiment seeds' greedy rephrase with 32 new tokens; `--max-new 96` is
   the demo's reply length (its teacher runs float32, the default; `--dtype bfloat16` for CPUs with native bf16)
3. teacher calls through `run_calls` (cache, persisted batches) on OpenAIBackend ÷ a plain async httpx
   client at the same concurrency, on loopback servers whose latency is lognormal (p99 ≈ 10× the
   median, as engines' long tails are), at concurrency 8 and 64 (goal ≥ 0.95)
4. the same ratio against a real vLLM server on CPU serving SmolLM2 (scripts/vllm_cpu_server.py), on
   the sentiment seeds' rephrase requests at concurrency 8: run when `.venv-vllm` exists (`--vllm-cpu
   on` requires it, `off` skips it)

`--json PATH` writes the ratios by key; keys of parts not run (the SmolLM2 ones with --http-only,
vllm_cpu_server without .venv-vllm, vllm_gpu, measured elsewhere) are null.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx2
import polars as pl
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "inference"))
sys.path.insert(0, str(ROOT / "scripts"))

import vllm_cpu_server  # noqa: E402  (a real vLLM server on CPU, from .venv-vllm)
from openai_server import Fleet  # noqa: E402  (the loopback OpenAI-compatible server of the tests)

from synth_assets.inference.base import GenerationRequest, SamplingParams  # noqa: E402
from synth_assets.inference.budget import teacher_budget  # noqa: E402
from synth_assets.inference.cache import TeacherCache, TeacherCall  # noqa: E402
from synth_assets.inference.openai_backend import OpenAIBackend  # noqa: E402
from synth_assets.inference.openai_wire import _payload  # noqa: E402
from synth_assets.inference.runner import run_calls  # noqa: E402
from synth_assets.inference.session import TeacherSession  # noqa: E402
from synth_assets.inference.transformers_backend import TransformersBackend  # noqa: E402
from synth_assets.spec import load_spec  # noqa: E402
from synth_assets.strategies import STRATEGIES, Seed  # noqa: E402
from synth_assets.strategies.expand import expand  # noqa: E402

DATA = ROOT / "synth_assets" / "pipelines" / "data"
MAX_NEW = 32  # the standard workload's reply length (--max-new)
P99_SIGMA = 0.99  # lognormal sigma with p99 = exp(2.326 sigma) ≈ 10× the median


def _spec(work: Path, batch_size: int, max_new: int = MAX_NEW):
    doc = yaml.safe_load((ROOT / "synth_assets" / "pipelines" / "sentiment.yaml").read_text())
    for name in ("sentiment_seeds.csv", "sentiment_test.csv"):  # a spec reads only files under its own folder
        shutil.copyfile(DATA / name, work / name)
    doc["seeds"] = [{"path": "sentiment_seeds.csv", "input": "review", "target": "score"}]
    doc["eval"] = {"path": "sentiment_test.csv", "input": "review", "target": "score"}
    doc["strategies"] = [{"name": "rephrase", "samples": 1, "max_new_tokens": max_new, "temperature": 0.0,
                          "verify_label": False}]  # rephrase alone: no label strategy to check its rows against
    doc["teacher"]["batch_size"] = batch_size
    path = work / f"spec-{batch_size}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_spec(path)


def _seeds(n: int) -> pl.DataFrame:
    df = pl.read_csv(DATA / "sentiment_seeds.csv").head(n)
    return df.select(pl.int_range(pl.len()).cast(pl.String).alias("seed_id"), pl.col("review").alias("input"),
                     pl.col("score").alias("target"))


def pipeline_vs_raw(backend: TransformersBackend, work: Path, rows: int, batch: int,
                    max_new: int = MAX_NEW) -> tuple[float, float, float]:
    """Generated tokens/s of `expand` (cache, parsing, rows) and of the backend alone, same requests,
    and the share of the raw time that is prefill (the same requests cut to one new token)."""
    spec = _spec(work, batch, max_new)
    seeds = _seeds(rows)
    cfg = spec.strategies[0]
    requests = [STRATEGIES["rephrase"].request(spec, cfg, Seed(r["seed_id"], r["input"], r["target"]), 0)
                for r in seeds.iter_rows(named=True)]
    # the same order the pipeline's runner uses (by prompt length), so the ratio is the pipeline's overhead
    requests.sort(key=lambda r: sum(len(m[1]) for m in r.messages))

    def run(reqs: list[GenerationRequest]) -> tuple[int, float]:
        start = time.perf_counter()
        tokens = sum(r.tokens_out for i in range(0, len(reqs), batch) for r in backend.generate(reqs[i:i + batch]))
        return tokens, time.perf_counter() - start

    raw_tokens, raw_s = run(requests)
    _, prefill_s = run([replace(r, params=replace(r.params, max_new_tokens=1)) for r in requests])
    start = time.perf_counter()
    df, _ = expand(spec, seeds, TeacherSession(backend, TeacherCache(work / f"wh-{batch}-{time.time_ns()}"), batch, teacher_budget(spec)))
    piped = int(df["tokens_out"].sum()) / (time.perf_counter() - start)
    return piped, raw_tokens / raw_s, min(prefill_s / raw_s, 1.0)


async def _plain_client(urls: list[str], bodies: list[dict], concurrency: int, timeout_s: float = 60) -> None:
    sem = asyncio.Semaphore(concurrency)
    async with httpx2.AsyncClient(timeout=timeout_s) as client:
        async def one(i: int, body: dict) -> None:
            async with sem:
                r = await client.post(f"{urls[i % len(urls)]}/chat/completions", json=body)
                r.raise_for_status()
                r.json()["choices"][0]["message"]["content"]
        await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))


def _best_runs(work: Path, urls: list[str], bodies: list[dict], calls: list[TeacherCall], backend: OpenAIBackend,
               repeats: int, timeout_s: float = 60) -> tuple[float, float, int, int]:
    """Requests/s of the plain client and of `run_calls` (each an empty cache), alternating; each keeps its best run.

    Also the errors over synth's runs and the tokens its last run generated.
    """
    rows, concurrency = len(calls), backend.concurrency
    ours = plain = 0.0
    errors = tokens = 0
    for _ in range(repeats):
        start = time.perf_counter()
        asyncio.run(_plain_client(urls, bodies, concurrency, timeout_s=timeout_s))
        plain = max(plain, rows / (time.perf_counter() - start))
        cache = TeacherCache(work.with_name(f"{work.name}-{time.time_ns()}"))  # empty: every call is made
        start = time.perf_counter()
        results, stats = run_calls(calls, backend, cache, batch_size=max(16, concurrency))
        ours = max(ours, rows / (time.perf_counter() - start))
        errors += stats.errors
        tokens = sum(r.tokens_out for r, _ in results.values())
    return ours, plain, errors, tokens


def http_vs_plain(work: Path, rows: int, concurrency: int, median_ms: float, repeats: int) -> tuple[float, float, int]:
    """Requests/s of `run_calls` over OpenAIBackend and of a plain client, same prompts, same latencies.

    batch_size is the spec default (16) or the concurrency when larger, so a batch fills the pool. The
    two alternate and each keeps its best run: the long tail makes single runs noisy.
    """
    fleet = Fleet(n=2, delay_s=median_ms / 1000, jitter_sigma=P99_SIGMA)
    try:
        requests = [GenerationRequest(messages=(("user", f"request number {i}"),), params=SamplingParams(max_new_tokens=8))
                    for i in range(rows)]
        calls = [TeacherCall(r.cache_key("teacher", "bench", "1"), r, "bench", "1") for r in requests]
        bodies = [_payload("teacher", r) for r in requests]
        backend = OpenAIBackend("teacher", fleet.urls, concurrency=concurrency)
        ours, plain, errors, _ = _best_runs(work / f"http-{concurrency}", fleet.urls, bodies, calls, backend, repeats)
        return ours, plain, errors
    finally:
        fleet.close()


def vllm_cpu_vs_plain(work: Path, rows: int, concurrency: int, repeats: int) -> tuple[float, float, int, float]:
    """Requests/s of `run_calls` over OpenAIBackend and of a plain client against one real vLLM CPU server.

    The same rephrase requests (greedy, MAX_NEW tokens) for both, batch_size as in http_vs_plain. One
    untimed pass of the plain client first, so both find the engine warm and the prompts in vLLM's
    prefix cache. Also returns the server's generated tokens/s in the plain client's best run.
    """
    spec = _spec(work, max(16, concurrency))
    cfg = spec.strategies[0]
    requests = [STRATEGIES["rephrase"].request(spec, cfg, Seed(r["seed_id"], r["input"], r["target"]), 0)
                for r in _seeds(rows).iter_rows(named=True)]
    name = vllm_cpu_server.SERVED_NAME
    calls = [TeacherCall(r.cache_key(f"openai:{name}", "rephrase", "bench"), r, "rephrase", "bench") for r in requests]
    bodies = [_payload(name, r) for r in requests]
    server = vllm_cpu_server.start(log=work / "vllm-cpu-server.log")
    try:
        server.wait_ready()
        backend = OpenAIBackend(name, [server.url], concurrency=concurrency, timeout_s=300)
        asyncio.run(_plain_client([server.url], bodies, concurrency, timeout_s=300))
        ours, plain, errors, tokens = _best_runs(work / "vllm-cpu", [server.url], bodies, calls, backend, repeats,
                                                 timeout_s=300)
        return ours, plain, errors, tokens / rows * plain
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=48)
    ap.add_argument("--http-only", action="store_true", help="skip the SmolLM2 parts (1 and 2)")
    ap.add_argument("--dtype", default="float32", help="the SmolLM2 parts' teacher.dtype (the demo: float32)")
    ap.add_argument("--max-new", type=int, default=MAX_NEW, help="reply length of parts 1 and 2 (the demo: 96)")
    ap.add_argument("--http-seconds", type=float, default=6.0, help="about how long each HTTP run takes")
    ap.add_argument("--repeats", type=int, default=2, help="runs of each HTTP client; the best counts")
    ap.add_argument("--median-ms", type=float, default=200.0, help="median latency of the loopback servers; "
                    "long enough that the pool, not this machine's CPUs, bounds both clients at concurrency 64")
    ap.add_argument("--vllm-cpu", choices=["auto", "on", "off"], default="auto",
                    help="part 4, a real vLLM server on CPU: auto runs it when .venv-vllm exists")
    ap.add_argument("--vllm-rows", type=int, default=32, help="rephrase requests sent to the vLLM CPU server per run")
    ap.add_argument("--json", type=Path, help="write the ratios here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="synth-bench-backends-"))
    lines: list[tuple[str, str]] = []
    ratios: dict[str, float | None] = {"pipeline_vs_raw": None, "batched_vs_b1": None, "http_c8": None,
                                       "http_c64": None, "vllm_cpu_server": None, "vllm_gpu": None}
    if not args.http_only:
        backend = TransformersBackend("embedded:smollm2-135m-instruct", batch_size=16, dtype=args.dtype)
        backend.load()
        backend.generate([GenerationRequest(messages=(("user", "warm up"),), params=SamplingParams(max_new_tokens=4))])
        piped, raw, prefill = pipeline_vs_raw(backend, work, args.rows, 16, args.max_new)
        b1 = TransformersBackend("embedded:smollm2-135m-instruct", batch_size=1, dtype=args.dtype)
        b1_piped, _, b1_prefill = pipeline_vs_raw(b1, work, 8, 1, args.max_new)
        ratios["pipeline_vs_raw"], ratios["batched_vs_b1"] = piped / raw, piped / b1_piped
        workload = f"{args.dtype}, rephrase of up to {args.max_new} tokens"
        lines += [(f"transformers raw, batch 16 (generated tok/s; {workload})", f"{raw:.1f}"),
                  ("  of its time, prefill (the same requests, 1 new token)", f"{prefill:.0%}"),
                  ("pipeline expand, batch 16 (generated tok/s)", f"{piped:.1f}"),
                  ("  pipeline ÷ raw", f"{piped / raw:.3f}"),
                  ("pipeline expand, batch 1 (generated tok/s)", f"{b1_piped:.1f}"),
                  ("  of the raw batch-1 time, prefill", f"{b1_prefill:.0%}"),
                  ("  batched ÷ batch-1 through the pipeline", f"{piped / b1_piped:.2f}")]
    mean_s = args.median_ms / 1000 * math.exp(P99_SIGMA**2 / 2)
    for concurrency in (8, 64):
        rows = max(100, int(args.http_seconds * concurrency / mean_s))
        ours, plain, errors = http_vs_plain(work, rows, concurrency, args.median_ms, args.repeats)
        ratios[f"http_c{concurrency}"] = ours / plain
        lines += [(f"pool bound: concurrency {concurrency} ÷ mean latency (requests/s)", f"{concurrency / mean_s:.1f}"),
                  (f"run_calls on OpenAIBackend, concurrency {concurrency}, {rows} rows (requests/s)", f"{ours:.1f}"),
                  (f"plain httpx async client, concurrency {concurrency} (requests/s)", f"{plain:.1f}"),
                  ("  OpenAIBackend ÷ plain client", f"{ours / plain:.3f}   ({errors} error rows)")]
    if args.vllm_cpu == "on" and not vllm_cpu_server.installed():
        vllm_cpu_server.venv_python()  # raises, saying how to install it
    if args.vllm_cpu == "on" or (args.vllm_cpu == "auto" and vllm_cpu_server.installed()):
        ours, plain, errors, tokens_s = vllm_cpu_vs_plain(work, args.vllm_rows, 8, args.repeats)
        ratios["vllm_cpu_server"] = ours / plain
        lines += [(f"vLLM CPU server, plain client, concurrency 8, {args.vllm_rows} rows (requests/s)", f"{plain:.2f}"),
                  ("  its generated tokens/s", f"{tokens_s:.1f}"),
                  ("vLLM CPU server, run_calls on OpenAIBackend, concurrency 8 (requests/s)", f"{ours:.2f}"),
                  ("  OpenAIBackend ÷ plain client", f"{ours / plain:.3f}   ({errors} error rows)")]
    print(f"\n{'measure':<72}{'value':>12}")
    for name, value in lines:
        print(f"{name:<72}{value:>12}")
    if args.json:
        args.json.write_text(json.dumps(ratios, indent=2) + "\n")


if __name__ == "__main__":
    main()
