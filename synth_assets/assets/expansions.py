"""Teacher expansions: every (seed, strategy, sample) call, through the row-level cache."""

import polars as pl
from dagster import AssetExecutionContext, AssetIn, MetadataValue, asset

from synth_assets.assets.common import TABLE_KINDS, Build
from synth_assets.inference.cache import TeacherCache
from synth_assets.strategies.expand import expand
from synth_assets.storage.outputs import preview_markdown, table_output

CODE_VERSION = "2"  # 2: cost_usd column


def build_expansions(b: Build):
    spec = b.spec

    @asset(
        key=b.key("expansions"),
        ins={"seeds": AssetIn(key=b.key("seeds"))},
        required_resource_keys={b.teacher_key},
        group_name=b.group,
        kinds=TABLE_KINDS | {"teacher"},
        code_version=f"{CODE_VERSION}-{spec.section_hash('teacher', 'strategies', 'instruction', 'labels', 'label_words', 'task', 'budget')}",
        description=(
            "Teacher generations, one row per (seed, strategy, sample), with the exact call (cache_key, "
            "prompt_hash, params_hash), cost (tokens, latency) and per-row `error`. Only calls missing "
            "from the teacher cache reach the model."
        ),
    )
    def expansions(context: AssetExecutionContext, seeds: pl.DataFrame):
        teacher = getattr(context.resources, b.teacher_key)
        backend = teacher.get_backend()
        df, stats = expand(spec, seeds, backend, TeacherCache(b.root), teacher.batch_size)
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
