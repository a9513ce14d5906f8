"""Turn seeds into expansion rows: build every (seed, strategy, sample) call, run through the cache, parse."""

from __future__ import annotations

import functools
import json
from typing import Any

import polars as pl

from synth_assets.hashing import stable_hash
from synth_assets.inference.base import SamplingParams
from synth_assets.inference.cache import TeacherCall
from synth_assets.inference.runner import RunStats
from synth_assets.inference.session import TeacherSession
from synth_assets.spec import PipelineSpec, StrategySpec
from synth_assets.strategies import STRATEGIES, Seed
from synth_assets.strategies.extras import RowExtra
from synth_assets.strategies.label_check import label_checks
from synth_assets.strategies.structured import retry_request
from synth_assets.strategies.votes import votes

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


def _structured_retries(spec: PipelineSpec, planned, results, teacher: TeacherSession) -> dict[str, TeacherCall]:
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
            retries[call.key] = teacher.call(req, strategy.name, strategy.version)
    return retries


def _plan(spec: PipelineSpec, seeds: pl.DataFrame, teacher: TeacherSession,
          pool: frozenset[str] | None) -> list[tuple[Seed, str, int, TeacherCall]]:
    """Every (seed, strategy, sample) call the spec's strategies make for these seeds."""
    planned: list[tuple[Seed, str, int, TeacherCall]] = []
    for cfg in spec.strategies:
        strategy = STRATEGIES[cfg.name]
        sample = None if cfg.pool_rows is None else pool if pool is not None else pool_sample(seeds, cfg.pool_rows)
        for seed in _seeds(seeds):
            if not strategy.applies_to(seed) or (sample is not None and seed.target is None and seed.seed_id not in sample):
                continue
            for sample_idx in range(cfg.samples):
                req = strategy.request(spec, cfg, seed, sample_idx)
                planned.append((seed, cfg.name, sample_idx, teacher.call(req, strategy.name, strategy.version)))
    return planned


def expand(
    spec: PipelineSpec, seeds: pl.DataFrame, teacher: TeacherSession, round_: int = 0,
    pool: frozenset[str] | None = None, label_cfg: StrategySpec | None = None, probe: bool = True,
) -> tuple[pl.DataFrame, RunStats]:
    """One row per (seed, strategy, sample); failed calls, unparseable replies and calls past the budget become rows with `error`.

    `pool`: the unlabelled seeds a `label` strategy with pool_rows labels, when `seeds` is one shard of them.
    `label_cfg`: the label prompt that checks claimed labels (verify_label), when `spec` is a round's copy.
    `probe`: fail fast when the first batch of calls all fail (see run_calls).
    """
    planned = _plan(spec, seeds, teacher, pool)
    results, stats = teacher.run([p[3] for p in planned], probe=probe)
    retries = _structured_retries(spec, planned, results, teacher)
    if retries:
        retried, retry_stats = teacher.run(list(retries.values()))
        results.update(retried)
        stats = stats.add(retry_stats)
    rows = [_row(spec, teacher, seed, name, sample_idx, retries.get(first.key, first), first, results, round_)
            for seed, name, sample_idx, first in planned]
    for follow_up in (votes(spec, rows, teacher), label_checks(spec, rows, teacher, label_cfg)):
        extras, follow_stats = follow_up
        rows = [_with_extra(row, extras[i]) if i in extras else row for i, row in enumerate(rows)]
        stats = stats.add(follow_stats)
    return pl.DataFrame(rows, schema=EXPANSIONS_SCHEMA), stats


def _row(spec: PipelineSpec, teacher: TeacherSession, seed: Seed, name: str, sample_idx: int, call: TeacherCall,
         first: TeacherCall, results, round_: int) -> dict[str, Any]:
    """The expansions row of one planned call (its structured-output retry, when there was one, answers it)."""
    result, hit = results[call.key]
    parsed = STRATEGIES[name].parse(spec, seed, result) if result.ok else None
    spent = [results[first.key][0], result] if call is not first else [result]
    cost = teacher.cost(*spent)
    return {
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
        "teacher_model": teacher.model_id,
        "cache_key": call.key,
        "prompt_hash": stable_hash([list(m) for m in call.request.messages]),
        "params_hash": _params_hash(call.request.params, call.request.choices),
        "round": round_,
        "cache_hit": hit,
        "tokens_in": cost.tokens_in,
        "tokens_out": cost.tokens_out,
        "latency_ms": cost.latency_ms,
        "cost_usd": cost.cost_usd,
        "error": result.error if not result.ok else (parsed.error if parsed else None),
        "attempts": len(spent),
    }


@functools.lru_cache(maxsize=1024)
def _params_hash(params: SamplingParams, choices: tuple[str, ...] | None) -> str:
    """The params_hash column: one strategy's rows share their params, so it is worked out once per value."""
    return stable_hash(params.as_dict(), choices)


def _with_extra(row: dict[str, Any], extra: RowExtra) -> dict[str, Any]:
    """The row with a follow-up's parts, label scores and cost added."""
    out = dict(row)
    if extra.parts:
        parts = json.loads(row["parts"]) if row["parts"] else {}
        out["parts"] = json.dumps({**parts, **extra.parts}, ensure_ascii=False)
    if extra.label_scores:
        out["label_scores"] = json.dumps(extra.label_scores)
        out["confidence"] = extra.confidence
    for column in ("tokens_in", "tokens_out", "latency_ms", "cost_usd"):
        out[column] = row[column] + getattr(extra.cost, column)
    return out
