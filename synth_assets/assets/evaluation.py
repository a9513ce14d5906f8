"""eval_scores and eval_predictions: teacher, seeds-only student and synthetic-data student on held-out data."""

import polars as pl
from dagster import AssetExecutionContext, AssetIn, AssetOut, MetadataValue, multi_asset

from synth_assets.assets.common import TABLE_KINDS, Build
from synth_assets.assets.run_log import forward_logs
from synth_assets.evaluation.scoring import score_errors, score_predictions
from synth_assets.evaluation.students import student_predictions
from synth_assets.evaluation.teacher import teacher_predictions, teacher_solutions
from synth_assets.hashing import frame_hash
from synth_assets.inference.cache import TeacherCache
from synth_assets.storage.lease import leased
from synth_assets.storage.outputs import preview_markdown, table_output
from synth_assets.storage.plots import image_markdown, metric_bars

CODE_VERSION = "4"  # 3: round column; math metrics; 4: null scores with n_errors, teacher eval calls in the ledger


def build_evaluation(b: Build):
    spec = b.spec

    @multi_asset(
        outs={
            "eval_scores": AssetOut(key=b.key("eval_scores"), kinds=TABLE_KINDS, description="model × metric on the held-out split."),
            "eval_predictions": AssetOut(key=b.key("eval_predictions"), kinds=TABLE_KINDS, description="One row per (model, eval item): prediction and whether it was right."),
        },
        ins={"student_checkpoint": AssetIn(key=b.key("student_checkpoint")), "eval_set": AssetIn(key=b.key("eval_set")),
             "expansions": AssetIn(key=b.key("expansions"))},
        required_resource_keys={b.teacher_key},
        name=f"{spec.name}__evaluation",  # op names are global in a code location: one per pipeline
        group_name=b.group,
        code_version=f"{CODE_VERSION}-{spec.section_hash('eval', 'labels', 'label_words', 'instruction', 'teacher', 'task')}-{b.strategy_versions}",
    )
    @leased(b.root)
    def evaluation(context: AssetExecutionContext, student_checkpoint: pl.DataFrame, eval_set: pl.DataFrame,
                   expansions: pl.DataFrame):
        eval_version = frame_hash(eval_set)
        predictions: dict[str, tuple[list[str | None], str | None]] = {}
        teacher = getattr(context.resources, b.teacher_key)
        backend = teacher.get_backend()
        measure = teacher_solutions if spec.task == "math" else teacher_predictions
        with forward_logs(context):
            found = measure(spec, eval_set, backend, TeacherCache(b.root), teacher.batch_size)
        predictions["teacher"] = (found.predictions["raw"], None)
        if "calibrated" in found.predictions:
            predictions["teacher_calibrated"] = (found.predictions["calibrated"], None)
        context.log.info(f"teacher on eval: {found.stats.calls} calls, {found.stats.cache_hits} cached, "
                         f"{sum(e is not None for e in found.errors)} without an answer")
        for row in student_checkpoint.iter_rows(named=True):
            predictions[f"student_{row['variant']}"] = (student_predictions(spec, row, eval_set["input"].to_list()), row["checkpoint_id"])
        errors = {model: found.errors for model in predictions if model.startswith("teacher")}
        score_df, pred_df = score_predictions(spec, eval_set, eval_version, 0, predictions, errors=errors)
        # the teacher's eval calls join the cost ledger (the costs view), failed ones included
        ledger = found.ledger.with_columns(pl.lit("teacher").alias("model"))
        pred_df = pred_df.join(ledger, on=["model", "eval_id"], how="left")
        for line in score_errors(score_df):
            context.log.warning(line)
        table = score_df.pivot(on="metric", index="model", values="value")
        main_metric = spec.metrics[0]
        best = dict(score_df.filter(pl.col("metric") == main_metric).select("model", "value").iter_rows())
        delta = best.get("student_synthetic", 0.0) - best.get("student_seeds_only", 0.0)
        by_model = {m: dict(score_df.filter(pl.col("model") == m).select("metric", "value").iter_rows()) for m in predictions}
        chart = metric_bars(by_model, f"synthetic − seeds-only student: {delta:+.3f} {main_metric}")
        yield table_output(score_df, "eval_scores", scores=MetadataValue.md(preview_markdown(table, rows=20)),
                           errors=MetadataValue.md("\n".join(f"- {line}" for line in score_errors(score_df)) or "none"),
                           **{f"synthetic_minus_seeds_only_{main_metric}": MetadataValue.float(round(delta, 4))},
                           **cost_per_point(expansions, delta),
                           eval_delta=MetadataValue.md(image_markdown(chart, "held-out scores per model")))
        yield table_output(pred_df, "eval_predictions")

    return evaluation


def cost_per_point(expansions: pl.DataFrame, delta: float) -> dict[str, MetadataValue]:
    """Teacher spend behind the synthetic data per point of the main metric gained over the seeds-only student.

    USD where the spec prices the teacher, else engine seconds (local models cost time, not money).
    No gain means no finite price per point: reported as null rather than a misleading number.
    """
    usd = float(expansions["cost_usd"].sum() or 0.0) if "cost_usd" in expansions.columns else 0.0
    seconds = float(expansions["latency_ms"].sum() or 0.0) / 1000
    points = delta * 100
    per_point = (usd if usd > 0 else seconds) / points if points > 0 else None
    unit = "usd" if usd > 0 else "engine_seconds"
    return {
        "teacher_cost_usd": MetadataValue.float(round(usd, 6)),
        "teacher_engine_seconds": MetadataValue.float(round(seconds, 2)),
        f"{unit}_per_point_gained": MetadataValue.float(round(per_point, 6)) if per_point is not None else MetadataValue.null(),
    }
