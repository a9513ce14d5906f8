"""Teacher expansions: every (seed, strategy, sample) call, through the row-level cache.

Round 0 expands the seeds with the spec's strategies. Round r (LLM2LLM) expands round r's
student errors with `rounds.strategy` (only those mixture_r allocated, when `rounds.mixture` is set),
plus teacher labels for the active pool when `rounds.active` is on; its budget counts every earlier round's calls.
"""

import polars as pl
from dagster import AssetExecutionContext, AssetIn, MetadataValue, StaticPartitionsDefinition, asset

from synth_assets.assets.common import TABLE_KINDS, Build
from synth_assets.assets.mixture import allocated_errors
from synth_assets.assets.run_log import forward_logs
from synth_assets.hashing import stable_hash
from synth_assets.inference.runner import RunStats
from synth_assets.inference.session import TeacherSession
from synth_assets.inference.budget import teacher_budget
from synth_assets.storage.lease import leased
from synth_assets.storage.io_manager import lazy_input
from synth_assets.storage.outputs import preview_markdown, table_output
from synth_assets.storage.parquet import Spill, Table, TableParts, columns_of
from synth_assets.strategies.expand import expand, pool_sample
from synth_assets.strategies.label_check import default_check_mark, label_checked

CODE_VERSION = "3"  # 2: cost_usd column; 3: rationale and parts columns, self-consistency votes
# seeds expanded at a time: the calls, replies and rows of one slice are Python objects (~5 KB a call),
# the finished slices compact columns, so a million seeds never hold millions of Python rows at once
EXPAND_ROWS = 50_000


def shard_partitions(shards: int) -> StaticPartitionsDefinition | None:
    """One partition per seed shard ('000', '001', ...), or none for an unsharded pipeline."""
    return StaticPartitionsDefinition([f"{i:03d}" for i in range(shards)]) if shards > 1 else None


def in_shard(seed_id: pl.Expr, shard: int, shards: int) -> pl.Expr:
    """Seeds of one shard: seed ids are hex content hashes, so their prefix spreads rows evenly and stably."""
    return seed_id.str.slice(0, 8).str.to_integer(base=16) % shards == shard


def _inputs(b: Build, r: int) -> dict[str, AssetIn]:
    """Round 0 reads the seeds; round r its student errors, every earlier round's expansions (the budget), its active
    pool and its mixture (with the seeds, whose slices it allocated)."""
    if r == 0:  # a slice of seeds at a time: a million-row pool is never in memory whole
        return {"seeds": lazy_input(b.key("seeds"))}
    active = {"active_pool": AssetIn(key=b.key("active_pool", r))} if b.spec.rounds.active.pool_rows > 0 else {}
    mixture = ({"mixture": AssetIn(key=b.key("mixture", r)), "seeds": AssetIn(key=b.key("seeds"))}
               if b.spec.rounds.mixture is not None else {})
    return {"student_errors": AssetIn(key=b.key("student_errors", r)),
            **{f"expansions_{i}": AssetIn(key=b.key("expansions", i)) for i in range(r)}, **active, **mixture}


def _code_version(b: Build, r: int) -> str:
    spec = b.spec
    if r == 0:
        sections = ('teacher', 'strategies', 'instruction', 'labels', 'label_words', 'task', 'budget')
        checks = default_check_mark(spec, 0)
        return f"{CODE_VERSION}-{spec.section_hash(*sections)}-{b.strategy_versions}{checks}"
    # the label prompt reads the active pool and checks claimed labels: editing it changes those calls
    label_version = stable_hash(spec.label_strategy.model_dump(mode="json") if spec.label_strategy else None, length=8)
    sections = ('teacher', 'instruction', 'labels', 'label_words', 'task', 'budget')
    checks = default_check_mark(spec, r)
    return f"{b.round_version(r)}-{spec.section_hash(*sections)}-{label_version}-{b.strategy_versions}{checks}"


def _description(b: Build, r: int) -> str:
    if r == 0:
        return ("Teacher generations, one row per (seed, strategy, sample), with the exact call (cache_key, "
                "prompt_hash, params_hash), cost (tokens, latency) and per-row `error`. Only calls missing "
                "from the teacher cache reach the model.")
    active = " and teacher labels for the active pool" if b.spec.rounds.active.pool_rows > 0 else ""
    return f"Round {r}: the rounds strategy applied to each student error{active}, through the teacher cache and budget."


def _seed_expansions(b: Build, context: AssetExecutionContext, seeds: pl.LazyFrame) -> tuple[Table, RunStats, TeacherSession]:
    """Round 0: the spec's strategies on the seeds (of one shard, when sharded), EXPAND_ROWS seeds read at a time."""
    spec, teacher = b.spec, b.teacher(context)
    # the label strategy's pool sample is drawn from all seeds, so every shard and slice labels its part of the same sample
    pool = pool_sample(seeds.select("seed_id", "target").collect(), spec.label_strategy.pool_rows) if spec.label_strategy else None
    if spec.shards > 1:
        seeds = seeds.filter(in_shard(pl.col("seed_id"), int(context.partition_key), spec.shards))
    height = seeds.select(pl.len()).collect().item()
    if spec.shards > 1:
        context.log.info(f"shard {context.partition_key} of {spec.shards}: {height} seeds")
    if height <= EXPAND_ROWS:
        df, stats = expand(spec, seeds.collect(), teacher, pool=pool)
        return df, stats, teacher
    spill, counts, stats = Spill(), [], RunStats()
    for lo in range(0, height, EXPAND_ROWS):
        part, part_stats = expand(spec, seeds.slice(lo, EXPAND_ROWS).collect(), teacher, pool=pool)
        spill.add(part)
        counts.append(dict(part.group_by("strategy").len().iter_rows()))
        stats = stats.add(part_stats)
    return _in_plan_order(spec, spill, counts), stats, teacher


def _in_plan_order(spec, spill: Spill, counts: list[dict[str, int]]) -> TableParts:
    """The spilled slices' rows in the order one expand() of all seeds gives: by strategy, then seed, then sample.

    A slice holds its seeds' rows by strategy, in seed order, so the table is each strategy's rows of
    every slice in slice order; the IO manager reads and writes them a piece at a time.
    `counts`: the rows of each strategy in each part.
    """
    names = list(dict.fromkeys(cfg.name for cfg in spec.strategies))
    strays = {name for count in counts for name in count} - set(names)
    if strays:
        raise ValueError(f"expansions rows of strategies the spec does not name: {sorted(strays)}")
    return spill.table([(pl.scan_parquet(path).filter(pl.col("strategy") == name), count.get(name, 0))
                        for name in names for path, count in zip(spill.parts, counts)])


def _round_expansions(b: Build, r: int, context: AssetExecutionContext, student_errors: pl.DataFrame,
                      active_pool: pl.DataFrame | None, earlier: list[pl.DataFrame]) -> tuple[pl.DataFrame, RunStats, TeacherSession]:
    """Round r: rounds.strategy on the student errors, then the pipeline's label prompt on the active pool."""
    spec, budget = b.spec, teacher_budget(b.spec)
    for df in earlier:  # the cap covers the dataset: earlier rounds' calls count
        done = df.filter(pl.col("error").is_null())
        budget.precharge(done.height, float(done["cost_usd"].sum() or 0.0) if "cost_usd" in df.columns else 0.0)
    teacher = b.teacher(context, budget)
    # a round's own sampling seeds: the same strategy on the same seed must not replay an earlier round's calls
    teacher_r = spec.teacher.model_copy(update={"seed": spec.teacher.seed + 1000 * r})
    round_spec = spec.model_copy(update={"strategies": [s for s in [spec.rounds.strategy] if s], "teacher": teacher_r})
    df, stats = expand(round_spec, student_errors, teacher, round_=r, label_cfg=spec.label_strategy)
    if active_pool is not None and active_pool.height:
        # labelling is deterministic scoring: the pipeline's own label prompt, so a text is one cached call wherever it appears
        label_spec = spec.model_copy(update={"strategies": [spec.label_strategy.model_copy(update={"pool_rows": None})]})
        labels, label_stats = expand(label_spec, active_pool, teacher, round_=r)
        df, stats = pl.concat([df, labels]), stats.add(label_stats)
    pool_rows = 0 if active_pool is None else active_pool.height
    context.log.info(f"round {r}: {student_errors.height} errors and {pool_rows} active pool rows -> {df.height} rows")
    return df, stats, teacher


def _output(context: AssetExecutionContext, table: Table, stats: RunStats, teacher: TeacherSession, label_checked: list[str]):
    """The expansions table with what its calls cost, the same for every round; `label_checked`: the strategies whose
    texts the teacher re-labelled (the resolved verify_label)."""
    if stats.skipped:
        context.log.warning(f"teacher budget reached: {stats.skipped} calls skipped (rows with error "
                            f"'skipped: ...'); raise budget.max_usd / max_calls and materialise again to make them")
    context.log.info(
        f"{stats.unique} unique calls: {stats.cache_hits} from cache, {stats.calls} generated, {stats.errors} errors in {stats.seconds:.1f}s"
    )
    df = columns_of(table, "strategy", "error", "cost_usd", "tokens_out")
    per_strategy = df.group_by("strategy").agg(pl.len().alias("rows"), pl.col("error").is_not_null().sum().alias("errors"))
    return table_output(
        table,
        teacher_model=teacher.model_id,
        label_checked=MetadataValue.json(label_checked),
        teacher_calls=stats.calls,
        cache_hits=stats.cache_hits,
        cache_hit_rate=MetadataValue.float(stats.cache_hits / stats.unique if stats.unique else 1.0),
        errors=stats.errors,
        skipped_by_budget=stats.skipped,
        cost_usd=MetadataValue.float(round(float(df["cost_usd"].sum() or 0.0), 6)),
        tokens_out=int(df["tokens_out"].sum() or 0),
        generation_seconds=MetadataValue.float(round(stats.seconds, 2)),
        per_strategy=MetadataValue.md(preview_markdown(per_strategy.sort("strategy"), rows=50)),
    )


def build_expansions(b: Build, r: int = 0):
    """The expansions asset of round r (0: the seeds; r > 0: round r's student errors)."""

    @asset(
        key=b.key("expansions", r),
        partitions_def=shard_partitions(b.spec.shards) if r == 0 else None,
        ins=_inputs(b, r),
        required_resource_keys={b.teacher_key},
        group_name=b.group,
        kinds=TABLE_KINDS | {"teacher"},
        code_version=_code_version(b, r),
        description=_description(b, r),
    )
    @leased(b.root)
    def expansions(context: AssetExecutionContext, **inputs: pl.DataFrame | pl.LazyFrame):
        with forward_logs(context):
            if r == 0:
                df, stats, teacher = _seed_expansions(b, context, inputs["seeds"])
            else:
                earlier, errors = [inputs[f"expansions_{i}"] for i in range(r)], inputs["student_errors"]
                if "mixture" in inputs:
                    errors = allocated_errors(b.spec, errors, inputs["seeds"], inputs["mixture"])
                df, stats, teacher = _round_expansions(b, r, context, errors, inputs.get("active_pool"), earlier)
        return _output(context, df, stats, teacher, label_checked(b.spec, r))

    return expansions
