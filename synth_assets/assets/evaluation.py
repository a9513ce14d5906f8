"""eval_scores and eval_predictions: teacher, seeds-only student and synthetic-data student on held-out data.

Round r scores its student the same way and adds its gain over the previous round's student.
"""

import polars as pl
from dagster import AssetExecutionContext, AssetIn, AssetOut, MetadataValue, multi_asset

from synth_assets.assets.common import TABLE_KINDS, Build
from synth_assets.assets.run_log import forward_logs
from synth_assets.evaluation.scoring import score_errors, score_predictions
from synth_assets.evaluation.students import student_predictions
from synth_assets.evaluation.teacher import TeacherEval, teacher_predictions, teacher_solutions
from synth_assets.hashing import frame_hash
from synth_assets.storage.lease import leased
from synth_assets.storage.outputs import preview_markdown, table_output
from synth_assets.storage.plots import image_markdown, metric_bars
from synth_assets.training.checkpoint import Checkpoint

CODE_VERSION = "4"  # 3: round column; math metrics; 4: null scores with n_errors, teacher eval calls in the ledger


def _inputs(b: Build, r: int) -> dict[str, AssetIn]:
    """The round's student and the eval set; every expansions table so far (the spend); earlier rounds' scores."""
    ins = {"student_checkpoint": AssetIn(key=b.key("student_checkpoint", r)), "eval_set": AssetIn(key=b.key("eval_set")),
           **{f"expansions_{i}": AssetIn(key=b.key("expansions", i)) for i in range(r + 1)}}
    if r > 0:
        ins["first_scores"] = AssetIn(key=b.key("eval_scores"))
    if r > 1:
        ins["previous_scores"] = AssetIn(key=b.key("eval_scores", r - 1))
    return ins


def _code_version(b: Build, r: int) -> str:
    if r > 0:
        return f"{b.round_version(r)}-{b.spec.section_hash('eval')}"
    sections = ("eval", "labels", "label_words", "instruction", "teacher", "task")
    return f"{CODE_VERSION}-{b.spec.section_hash(*sections)}-{b.strategy_versions}"


def _teacher_on_eval(b: Build, context: AssetExecutionContext, eval_set: pl.DataFrame) -> TeacherEval:
    """Round 0 measures the teacher on the held-out set too (through the cache: a rerun costs nothing)."""
    measure = teacher_solutions if b.spec.task == "math" else teacher_predictions
    with forward_logs(context):
        found = measure(b.spec, eval_set, b.teacher(context))
    context.log.info(f"teacher on eval: {found.stats.calls} calls, {found.stats.cache_hits} cached, "
                     f"{sum(e is not None for e in found.errors)} without an answer")
    return found


def _gains(score_df: pl.DataFrame, metric: str, r: int, inputs: dict[str, pl.DataFrame]) -> dict[str, float]:
    """The main metric's gain over the seeds-only student, and (rounds) over the previous round's student."""
    best = dict(score_df.filter(pl.col("metric") == metric).select("model", "value").iter_rows())
    first = dict(inputs.get("first_scores", score_df).filter(pl.col("metric") == metric).select("model", "value").iter_rows())
    now = best.get("student_synthetic" if r == 0 else f"student_round_{r}")
    gains = {f"synthetic_minus_seeds_only_{metric}": (now or 0.0) - (first.get("student_seeds_only") or 0.0)}
    if r > 0:
        before = first if r == 1 else dict(inputs["previous_scores"].filter(pl.col("metric") == metric)
                                           .select("model", "value").iter_rows())
        previous = before.get("student_synthetic" if r == 1 else f"student_round_{r - 1}")
        gains[f"{metric}_gain_over_previous_round"] = (now or 0.0) - previous if previous is not None else 0.0
        gains[f"{metric}_gain_over_seeds_only"] = gains[f"synthetic_minus_seeds_only_{metric}"]
    return gains


def build_evaluation(b: Build, r: int = 0):
    """eval_scores and eval_predictions of round r: round 0 scores the teacher and both students, round r its student."""
    spec = b.spec
    suffix = f"_r{r}" if r else ""
    what = "" if r == 0 else f"Round {r} student: "

    @multi_asset(
        outs={
            "eval_scores": AssetOut(key=b.key("eval_scores", r), kinds=TABLE_KINDS, description=f"{what}model × metric on the held-out split."),
            "eval_predictions": AssetOut(key=b.key("eval_predictions", r), kinds=TABLE_KINDS,
                                         description=f"{what}one row per (model, eval item): prediction and whether it was right."),
        },
        ins=_inputs(b, r),
        required_resource_keys={b.teacher_key} if r == 0 else set(),
        name=f"{spec.name}__evaluation{suffix}",  # op names are global in a code location: one per pipeline and round
        group_name=b.group,
        code_version=_code_version(b, r),
    )
    @leased(b.root)
    def evaluation(context: AssetExecutionContext, student_checkpoint: pl.DataFrame, eval_set: pl.DataFrame, **inputs: pl.DataFrame):
        predictions: dict[str, tuple[list[str | None], str | None]] = {}
        errors, found = {}, _teacher_on_eval(b, context, eval_set) if r == 0 else None
        if found is not None:
            predictions["teacher"] = (found.predictions["raw"], None)
            if "calibrated" in found.predictions:
                predictions["teacher_calibrated"] = (found.predictions["calibrated"], None)
            errors = {model: found.errors for model in predictions}
        for checkpoint in map(Checkpoint.from_row, student_checkpoint.iter_rows(named=True)):
            model = f"student_{checkpoint.variant}" if r == 0 else f"student_round_{r}"
            predictions[model] = (student_predictions(spec, checkpoint, eval_set["input"].to_list()), checkpoint.checkpoint_id)
        score_df, pred_df = score_predictions(spec, eval_set, frame_hash(eval_set), r, predictions, errors=errors)
        if found is not None:  # the teacher's eval calls join the cost ledger (the costs view), failed ones included
            pred_df = pred_df.join(found.ledger.with_columns(pl.lit("teacher").alias("model")), on=["model", "eval_id"], how="left")
        for line in score_errors(score_df):
            context.log.warning(line)
        metric = spec.metrics[0]
        gains = _gains(score_df, metric, r, inputs)
        by_model = {m: dict(score_df.filter(pl.col("model") == m).select("metric", "value").iter_rows()) for m in predictions}
        delta = gains[f"synthetic_minus_seeds_only_{metric}"]
        chart = metric_bars(by_model, f"synthetic − seeds-only student: {delta:+.3f} {metric}")
        spent = pl.concat([inputs[f"expansions_{i}"].select("cost_usd", "latency_ms") for i in range(r + 1)])
        yield table_output(score_df, "eval_scores",
                           scores=MetadataValue.md(preview_markdown(score_df.pivot(on="metric", index="model", values="value"), rows=20)),
                           errors=MetadataValue.md("\n".join(f"- {line}" for line in score_errors(score_df)) or "none"),
                           **{k: MetadataValue.float(round(v, 4)) for k, v in gains.items()},
                           **cost_per_point(spent, delta),
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
