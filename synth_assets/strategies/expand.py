"""Turn seeds into expansion rows: build every (seed, strategy, sample) call, run through the cache, parse."""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from synth_assets.hashing import stable_hash
from synth_assets.inference.base import TeacherBackend
from synth_assets.inference.budget import Budget
from synth_assets.inference.cache import TeacherCache, TeacherCall
from synth_assets.inference.runner import RunStats, run_calls
from synth_assets.spec import PipelineSpec, StrategySpec
from synth_assets.strategies import STRATEGIES, Seed
from synth_assets.strategies.label_check import add_label_checks
from synth_assets.strategies.structured import retry_request
from synth_assets.strategies.votes import add_votes

EXPANSIONS_SCHEMA = {
    "row_id": pl.String,
    "seed_id": pl.String,
    "strategy": pl.String,
    "sample_idx": pl.Int64,
    "input": pl.String,
    "target": pl.String,
    "raw_output": pl.String,
    "confidence": pl.Float64,
    "label_scores": pl.String,
    "rationale": pl.String,
    "parts": pl.String,
    "token_logprobs": pl.String,
    "teacher_model": pl.String,
    "cache_key": pl.String,
    "prompt_hash": pl.String,
    "params_hash": pl.String,
    "round": pl.Int64,
    "cache_hit": pl.Boolean,
    "tokens_in": pl.Int64,
    "tokens_out": pl.Int64,
    "latency_ms": pl.Float64,
    "cost_usd": pl.Float64,
    "error": pl.String,
    "attempts": pl.Int64,
}


def call_failed() -> pl.Expr:
    """Rows whose teacher call failed after retries (no reply at all), as opposed to a reply that did not
    parse (raw_output kept) or a call the budget never sent ('skipped: ...')."""
    return pl.col("error").is_not_null() & pl.col("raw_output").is_null() & ~pl.col("error").str.starts_with("skipped:")


def call_sent() -> pl.Expr:
    """Rows whose call reached the teacher (or its cache): everything but budget skips."""
    return ~pl.col("error").fill_null("").str.starts_with("skipped:")


def _seeds(df: pl.DataFrame) -> list[Seed]:
    """Seeds to expand; a `prediction` column (the student's wrong answers of an error round) is optional."""
    cols = ["seed_id", "input", "target"] + (["prediction"] if "prediction" in df.columns else [])
    return [Seed(r["seed_id"], r["input"], r["target"], r.get("prediction")) for r in df.select(cols).iter_rows(named=True)]


def pool_sample(seeds: pl.DataFrame, rows: int | None) -> frozenset[str] | None:
    """The unlabelled seeds a `label` strategy with `pool_rows` labels: a stable sample (smallest content-hash ids)."""
    if rows is None:
        return None
    pool = seeds.filter(pl.col("target").is_null())["seed_id"].sort()
    return frozenset(pool.head(rows).to_list())


def _structured_retries(spec: PipelineSpec, planned, results, model_id: str) -> dict[str, TeacherCall]:
    """For replies that fail their strategy's response schema: one retry call each, keyed by the first call."""
    retries: dict[str, TeacherCall] = {}
    for seed, name, _, call in planned:
        strategy = STRATEGIES[name]
        schema = strategy.response_schema(spec.task)
        result, _ = results[call.key]
        if schema is None or not result.ok or call.key in retries:
            continue
        parsed = strategy.parse(spec, seed, result)
        if parsed.error:
            req = retry_request(call.request, result.text, parsed.error, schema)
            retries[call.key] = TeacherCall(req.cache_key(model_id, strategy.name, strategy.version), req,
                                            strategy.name, strategy.version)
    return retries


def expand(
    spec: PipelineSpec, seeds: pl.DataFrame, backend: TeacherBackend, cache: TeacherCache, batch_size: int, round_: int = 0,
    budget: Budget | None = None, pool: frozenset[str] | None = None, label_cfg: StrategySpec | None = None,
    probe: bool = True,
) -> tuple[pl.DataFrame, RunStats]:
    """One row per (seed, strategy, sample); failed calls, unparseable replies and calls past the budget become rows with `error`.

    `pool`: the unlabelled seeds a `label` strategy with pool_rows labels, when `seeds` is one shard of them.
    `label_cfg`: the label prompt that checks claimed labels (verify_label), when `spec` is a round's copy.
    `probe`: fail fast when the first batch of calls all fail (see run_calls).
    """
    planned: list[tuple[Seed, str, int, TeacherCall]] = []
    for cfg in spec.strategies:
        strategy = STRATEGIES[cfg.name]
        sample = None if cfg.pool_rows is None else pool if pool is not None else pool_sample(seeds, cfg.pool_rows)
        for seed in _seeds(seeds):
            if not strategy.applies_to(seed) or (sample is not None and seed.target is None and seed.seed_id not in sample):
                continue
            for sample_idx in range(cfg.samples):
                req = strategy.request(spec, cfg, seed, sample_idx)
                key = req.cache_key(backend.model_id, strategy.name, strategy.version)
                planned.append((seed, cfg.name, sample_idx, TeacherCall(key, req, strategy.name, strategy.version)))
    budget = budget or spec.teacher_budget()
    results, stats = run_calls([p[3] for p in planned], backend, cache, batch_size, budget, probe=probe)
    retries = _structured_retries(spec, planned, results, backend.model_id)
    if retries:
        retried, retry_stats = run_calls(list(retries.values()), backend, cache, batch_size, budget)
        results.update(retried)
        stats = stats.add(retry_stats)
    rows: list[dict[str, Any]] = []
    for seed, name, sample_idx, first in planned:
        call = retries.get(first.key, first)
        result, hit = results[call.key]
        parsed = STRATEGIES[name].parse(spec, seed, result) if result.ok else None
        spent = [results[first.key][0], result] if call is not first else [result]
        rows.append(
            {
                "row_id": stable_hash(seed.seed_id, name, sample_idx, round_),
                "seed_id": seed.seed_id,
                "strategy": name,
                "sample_idx": sample_idx,
                "input": parsed.input if parsed else None,
                "target": parsed.target if parsed else None,
                "raw_output": result.text,
                "confidence": parsed.confidence if parsed else None,
                "label_scores": json.dumps(parsed.label_scores) if parsed and parsed.label_scores else None,
                "rationale": parsed.rationale if parsed else None,
                "parts": json.dumps(parsed.parts, ensure_ascii=False) if parsed and parsed.parts else None,
                "token_logprobs": json.dumps(result.token_logprobs, ensure_ascii=False) if result.token_logprobs else None,
                "teacher_model": backend.model_id,
                "cache_key": call.key,
                "prompt_hash": stable_hash([list(m) for m in call.request.messages]),
                "params_hash": stable_hash(call.request.params.as_dict(), call.request.choices),
                "round": round_,
                "cache_hit": hit,
                "tokens_in": sum(r.tokens_in for r in spent),
                "tokens_out": sum(r.tokens_out for r in spent),
                "latency_ms": sum(r.latency_ms for r in spent),
                "cost_usd": sum(budget.price.cost(r.tokens_in, r.tokens_out) for r in spent),
                "error": result.error if not result.ok else (parsed.error if parsed else None),
                "attempts": len(spent),
            }
        )
    stats = stats.add(add_votes(spec, rows, backend, cache, batch_size, budget))
    stats = stats.add(add_label_checks(spec, rows, backend, cache, batch_size, budget, label_cfg))
    return pl.DataFrame(rows, schema=EXPANSIONS_SCHEMA), stats
