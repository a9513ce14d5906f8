"""Teacher expansions: every (seed, strategy, sample) call, through the row-level cache."""

import polars as pl
from dagster import AssetExecutionContext, AssetIn, MetadataValue, StaticPartitionsDefinition, asset

from synth_assets.assets.common import TABLE_KINDS, Build
from synth_assets.assets.run_log import forward_logs
from synth_assets.inference.cache import TeacherCache
from synth_assets.strategies.expand import expand, pool_sample
from synth_assets.storage.lease import leased
from synth_assets.storage.outputs import preview_markdown, table_output

CODE_VERSION = "3"  # 2: cost_usd column; 3: rationale and parts columns, self-consistency votes


def shard_partitions(shards: int) -> StaticPartitionsDefinition | None:
    """One partition per seed shard ('000', '001', ...), or none for an unsharded pipeline."""
    return StaticPartitionsDefinition([f"{i:03d}" for i in range(shards)]) if shards > 1 else None


def in_shard(seed_id: pl.Expr, shard: int, shards: int) -> pl.Expr:
    """Seeds of one shard: seed ids are hex content hashes, so their prefix spreads rows evenly and stably."""
    return seed_id.str.slice(0, 8).str.to_integer(base=16) % shards == shard


def build_expansions(b: Build):
    spec = b.spec

    partitions = shard_partitions(spec.shards)

    @asset(
        key=b.key("expansions"),
        partitions_def=partitions,
        ins={"seeds": AssetIn(key=b.key("seeds"))},
        required_resource_keys={b.teacher_key},
        group_name=b.group,
        kinds=TABLE_KINDS | {"teacher"},
        code_version=f"{CODE_VERSION}-{spec.section_hash('teacher', 'strategies', 'instruction', 'labels', 'label_words', 'task', 'budget')}-{b.strategy_versions}",
        description=(
            "Teacher generations, one row per (seed, strategy, sample), with the exact call (cache_key, "
            "prompt_hash, params_hash), cost (tokens, latency) and per-row `error`. Only calls missing "
            "from the teacher cache reach the model."
        ),
    )
    @leased(b.root)
    def expansions(context: AssetExecutionContext, seeds: pl.DataFrame):
        teacher = getattr(context.resources, b.teacher_key)
        backend = teacher.get_backend()
        pool = None
        if partitions is not None:
            # the label strategy's pool sample is drawn from all seeds, so every shard labels its part of the same sample
            pool = pool_sample(seeds, spec.label_strategy.pool_rows) if spec.label_strategy else None
            seeds = seeds.filter(in_shard(pl.col("seed_id"), int(context.partition_key), spec.shards))
            context.log.info(f"shard {context.partition_key} of {spec.shards}: {seeds.height} seeds")
        with forward_logs(context):
            df, stats = expand(spec, seeds, backend, TeacherCache(b.root), teacher.batch_size, pool=pool)
        if stats.skipped:
            context.log.warning(f"teacher budget reached: {stats.skipped} calls skipped (rows with error "
                                f"'skipped: ...'); raise budget.max_usd / max_calls and materialise again to make them")
        context.log.info(
            f"{stats.unique} unique calls: {stats.cache_hits} from cache, {stats.calls} generated, {stats.errors} errors in {stats.seconds:.1f}s"
        )
        per_strategy = df.group_by("strategy").agg(pl.len().alias("rows"), pl.col("error").is_not_null().sum().alias("errors"))
        return table_output(
            df,
            teacher_model=backend.model_id,
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

    return expansions
