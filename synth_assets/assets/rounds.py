"""Error-driven rounds (LLM2LLM): the student's mistakes on the labelled seeds become the next round's seeds.

Round r (1..rounds.max_rounds) is an explicit chain of assets, each table suffixed `_r<r>`:
student_errors_r → expansions_r → filtered_r → train_set_r (previous train set + accepted rows)
→ student_checkpoint_r → eval_scores_r / eval_predictions_r. Every row records its round, and
the catalog's `error_lineage` view joins a round's training rows to the student error that
caused them. A round stops early (no errors to expand) when the previous round's student did
not improve on the labelled seeds by `min_improvement`, or when the teacher budget is spent.
"""

import polars as pl
from dagster import AssetExecutionContext, AssetIn, AssetOut, MetadataValue, asset, multi_asset

from synth_assets.assets.active_pool import build_active_pool
from synth_assets.assets.common import TABLE_KINDS, Build
from synth_assets.assets.judgements import build_judgements
from synth_assets.assets.run_log import forward_logs
from synth_assets.assets.evaluation import cost_per_point
from synth_assets.assets.filtered import accepted_rows
from synth_assets.assets.student import checkpoint_output, synthetic_student, train_variant
from synth_assets.answers import is_correct
from synth_assets.evaluation.scoring import score_predictions
from synth_assets.evaluation.students import student_outputs, student_predictions
from synth_assets.filters.apply import apply_filters
from synth_assets.hashing import frame_hash, stable_hash
from synth_assets.inference.cache import TeacherCache
from synth_assets.sources.validate import normalise
from synth_assets.spec import PipelineSpec
from synth_assets.storage.lease import leased
from synth_assets.storage.outputs import preview_markdown, table_output
from synth_assets.strategies.expand import expand

CODE_VERSION = "2"  # 2: active pool labels, label checks, student-aware verdicts
ERRORS_SCHEMA = {"seed_id": pl.String, "input": pl.String, "target": pl.String, "prediction": pl.String,
                 "true_prob": pl.Float64, "round": pl.Int64, "checkpoint_id": pl.String}


def _name(table: str, r: int) -> str:
    return table if r == 0 else f"{table}_r{r}"


def build_rounds(b: Build) -> list:
    """Every asset of every configured round (none when rounds.max_rounds is 0)."""
    return [a for r in range(1, b.spec.rounds.max_rounds + 1) for a in _round(b, r)]


def _round(b: Build, r: int) -> list:
    spec = b.spec
    key = lambda table, rr=r: b.key(_name(table, rr))  # noqa: E731 (a naming shorthand)
    round_version = f"{CODE_VERSION}-{spec.section_hash('rounds')}"

    errors_ins = {"student_checkpoint": AssetIn(key=key("student_checkpoint", r - 1)), "seeds": AssetIn(key=b.key("seeds"))}
    errors_asset = dict(key=key("student_errors"), group_name=b.group, kinds=TABLE_KINDS,
                        code_version=f"{round_version}-{spec.section_hash('labels', 'task')}",
                        description=f"Labelled seeds the round-{r - 1} synthetic-data student gets wrong: round {r}'s seeds (LLM2LLM).")
    if r == 1:
        @asset(ins=errors_ins, **errors_asset)
        @leased(b.root)
        def student_errors(context: AssetExecutionContext, student_checkpoint: pl.DataFrame, seeds: pl.DataFrame):
            return _student_errors(spec, r, context, student_checkpoint, seeds, None)
    else:
        @asset(ins={**errors_ins, "previous_errors": AssetIn(key=key("student_errors", r - 1))}, **errors_asset)
        @leased(b.root)
        def student_errors(context: AssetExecutionContext, student_checkpoint: pl.DataFrame, seeds: pl.DataFrame,
                           previous_errors: pl.DataFrame):
            return _student_errors(spec, r, context, student_checkpoint, seeds, previous_errors)

    earlier = {f"expansions_{i}": AssetIn(key=key("expansions", i)) for i in range(r)}
    active = spec.rounds.active.pool_rows > 0
    selection = [build_active_pool(b, r, key, round_version)] if active else []
    # the label prompt reads the active pool and checks claimed labels: editing it changes those calls
    label_version = stable_hash(spec.label_strategy.model_dump(mode="json") if spec.label_strategy else None, length=8)

    @asset(key=key("expansions"), ins={"student_errors": AssetIn(key=key("student_errors")), **earlier,
                                       **({"active_pool": AssetIn(key=key("active_pool"))} if active else {})},
           required_resource_keys={b.teacher_key}, group_name=b.group, kinds=TABLE_KINDS | {"teacher"},
           code_version=f"{round_version}-{spec.section_hash('teacher', 'instruction', 'labels', 'label_words', 'task', 'budget')}-{label_version}-{b.strategy_versions}",
           description=f"Round {r}: the rounds strategy applied to each student error"
                       f"{' and teacher labels for the active pool' if active else ''}, through the teacher cache and budget.")
    @leased(b.root)
    def expansions(context: AssetExecutionContext, student_errors: pl.DataFrame, **inputs: pl.DataFrame):
        teacher = getattr(context.resources, b.teacher_key)
        backend = teacher.get_backend()
        active_pool = inputs.pop("active_pool", None)
        # a round's own sampling seeds: the same strategy on the same seed must not replay an earlier round's calls
        teacher_r = spec.teacher.model_copy(update={"seed": spec.teacher.seed + 1000 * r})
        round_spec = spec.model_copy(update={"strategies": [s for s in [spec.rounds.strategy] if s], "teacher": teacher_r})
        budget = spec.teacher_budget()
        for df in inputs.values():  # the cap covers the dataset: earlier rounds' calls count
            done = df.filter(pl.col("error").is_null())
            budget.precharge(done.height, float(done["cost_usd"].sum() or 0.0) if "cost_usd" in df.columns else 0.0)
        cache = TeacherCache(b.root)
        with forward_logs(context):
            df, stats = expand(round_spec, student_errors, backend, cache, teacher.batch_size, round_=r, budget=budget,
                               label_cfg=spec.label_strategy)
            if active_pool is not None and active_pool.height:
                # labelling is deterministic scoring: the pipeline's own label prompt, so a text is one cached call wherever it appears
                label_spec = spec.model_copy(update={"strategies": [spec.label_strategy.model_copy(update={"pool_rows": None})]})
                labels, label_stats = expand(label_spec, active_pool, backend, cache, teacher.batch_size, round_=r, budget=budget)
                df, stats = pl.concat([df, labels]), stats.add(label_stats)
        pool_rows = 0 if active_pool is None else active_pool.height
        context.log.info(f"round {r}: {student_errors.height} errors and {pool_rows} active pool rows -> {df.height} rows, "
                         f"{stats.calls} teacher calls, {stats.cache_hits} cached, {stats.skipped} skipped by the budget")
        return table_output(df, teacher_calls=stats.calls, cache_hits=stats.cache_hits, skipped_by_budget=stats.skipped,
                            cost_usd=MetadataValue.float(round(float(df["cost_usd"].sum() or 0.0), 6)))

    judged = build_judgements(b, r)
    filter_ins = {"expansions": AssetIn(key=key("expansions")), "seeds": AssetIn(key=b.key("seeds")),
                  "eval_set": AssetIn(key=b.key("eval_set")),
                  # round 0's teacher labels of the labelled seeds measure the teacher for this round's labels
                  "reference": AssetIn(key=key("expansions", 0)),
                  **({"student_checkpoint": AssetIn(key=key("student_checkpoint", r - 1))} if spec.filters.student_aware.enabled else {}),
                  **({"judgements": AssetIn(key=key("judgements"))} if judged else {})}

    @asset(key=key("filtered"), ins=filter_ins, group_name=b.group, kinds=TABLE_KINDS,
           code_version=f"{round_version}-{spec.section_hash('filters', 'labels')}",
           description=f"Round {r} expansions with their filter verdicts (decontaminated against the eval set"
                       f"{'; rows the round-' + str(r - 1) + ' student already gets right are dropped' if spec.filters.student_aware.enabled else ''}).")
    @leased(b.root)
    def filtered(expansions: pl.DataFrame, seeds: pl.DataFrame, eval_set: pl.DataFrame, reference: pl.DataFrame,
                 **extra: pl.DataFrame):
        checkpoint = extra.get("student_checkpoint")
        student = None
        if checkpoint is not None:
            row = synthetic_student(checkpoint)
            student = lambda texts: student_outputs(spec, row, texts)  # noqa: E731 (bound to this round's checkpoint)
        df, report = apply_filters(expansions, seeds, spec, eval_set, judgements=extra.get("judgements"),
                                   reference_labels=reference, student=student)
        return table_output(df, accepted=int(df["accepted"].sum()), reject_reasons=MetadataValue.json(report["reasons"]),
                            teacher_confidence=MetadataValue.json(report["confidence"]))

    @asset(key=key("train_set"), ins={"previous": AssetIn(key=key("train_set", r - 1)), "filtered": AssetIn(key=key("filtered"))},
           group_name=b.group, kinds=TABLE_KINDS, code_version=round_version,
           description=f"Round {r - 1}'s train set plus the accepted round-{r} rows.")
    @leased(b.root)
    def train_set(previous: pl.DataFrame, filtered: pl.DataFrame):
        known = previous["input"].map_elements(normalise, return_dtype=pl.String).implode()
        accepted = accepted_rows(filtered)
        # a text the student already trains on teaches nothing new, whichever round produced it
        new = accepted.filter(~pl.col("input").map_elements(normalise, return_dtype=pl.String).is_in(known))
        new = new.unique(subset="input", keep="first", maintain_order=True)
        return table_output(pl.concat([previous, new]), added=new.height, repeats_dropped=accepted.height - new.height)

    @asset(key=key("student_checkpoint"), ins={"train_set": AssetIn(key=key("train_set"))}, group_name=b.group,
           kinds=TABLE_KINDS | {"torch"}, code_version=f"{round_version}-{spec.section_hash('student', 'labels', 'instruction', 'task')}",
           description=f"The round-{r} student, trained on train_set_r{r} (reused from the checkpoint cache when it exists).")
    @leased(b.root)
    def student_checkpoint(context: AssetExecutionContext, train_set: pl.DataFrame):
        return checkpoint_output([train_variant(b, context, train_set, "synthetic", round_=r)])

    @multi_asset(
        outs={"eval_scores": AssetOut(key=key("eval_scores"), kinds=TABLE_KINDS, description=f"Round {r} student on the held-out set."),
              "eval_predictions": AssetOut(key=key("eval_predictions"), kinds=TABLE_KINDS, description=f"Round {r} predictions per eval item.")},
        ins={"student_checkpoint": AssetIn(key=key("student_checkpoint")), "eval_set": AssetIn(key=b.key("eval_set")),
             "previous_scores": AssetIn(key=key("eval_scores", r - 1)), "expansions": AssetIn(key=key("expansions")),
             **{f"expansions_{i}": AssetIn(key=key("expansions", i)) for i in range(r)}},
        name=f"{spec.name}__evaluation_r{r}", group_name=b.group, code_version=f"{round_version}-{spec.section_hash('eval')}",
    )
    @leased(b.root)
    def evaluation(student_checkpoint: pl.DataFrame, eval_set: pl.DataFrame, previous_scores: pl.DataFrame,
                   **all_expansions: pl.DataFrame):
        row = student_checkpoint.row(0, named=True)
        preds = {f"student_round_{r}": (student_predictions(spec, row, eval_set["input"].to_list()), row["checkpoint_id"])}
        scores, predictions = score_predictions(spec, eval_set, frame_hash(eval_set), r, preds)
        metric = spec.metrics[0]
        now = scores.filter(pl.col("metric") == metric)["value"][0]
        before = previous_scores.filter((pl.col("metric") == metric) & pl.col("model").is_in(["student_synthetic", f"student_round_{r - 1}"]))
        seeds_only = previous_scores.filter((pl.col("metric") == metric) & (pl.col("model") == "student_seeds_only"))
        gain = now - before["value"][0] if before.height else 0.0
        over_seeds = now - seeds_only["value"][0] if seeds_only.height else 0.0
        spent = pl.concat([df.select("cost_usd", "latency_ms") for df in all_expansions.values()])
        yield table_output(scores, "eval_scores", **{f"{metric}_gain_over_previous_round": MetadataValue.float(round(gain, 4)),
                                                    f"{metric}_gain_over_seeds_only": MetadataValue.float(round(over_seeds, 4))},
                           **cost_per_point(spent, over_seeds),
                           scores=MetadataValue.md(preview_markdown(scores.select("model", "metric", "value"), rows=10)))
        yield table_output(predictions, "eval_predictions")

    return [student_errors, *selection, expansions, *judged, filtered, train_set, student_checkpoint, evaluation]


def _student_errors(spec: PipelineSpec, r: int, context: AssetExecutionContext, student_checkpoint: pl.DataFrame, seeds: pl.DataFrame,
                    previous_errors: pl.DataFrame | None):
    """The wrongly predicted labelled seeds, or none when the previous round did not improve enough."""
    student = synthetic_student(student_checkpoint)
    labelled = seeds.filter(pl.col("target").is_not_null())
    outputs = student_outputs(spec, student, labelled["input"].to_list())
    preds = [o.label for o in outputs]
    # wrong, or right without conviction: both are what the next round should teach
    wrong = [not is_correct(spec, o.label, t) or (bool(o.probs) and o.probs.get(t, 0.0) < spec.rounds.uncertain_below)
             for o, t in zip(outputs, labelled["target"])]
    errors = labelled.select("seed_id", "input", "target").with_columns(
        pl.Series("prediction", preds, dtype=pl.String),
        pl.Series("true_prob", [o.probs.get(t) if o.probs else None for o, t in zip(outputs, labelled["target"])],
                  dtype=pl.Float64),
        pl.lit(r, pl.Int64).alias("round"),
        pl.lit(student["checkpoint_id"]).alias("checkpoint_id"),
    ).filter(pl.Series(wrong)).cast(ERRORS_SCHEMA)
    accuracy = 1 - errors.height / labelled.height if labelled.height else 0.0
    stopped = None
    if previous_errors is not None and previous_errors.height == 0:
        stopped = f"round {r - 1} had no errors to expand (stopped or nothing to fix): no more rounds"
    elif previous_errors is not None and labelled.height:
        before = 1 - previous_errors.height / labelled.height
        if accuracy - before < spec.rounds.min_improvement:
            stopped = (f"round {r - 1} changed seed accuracy by {accuracy - before:+.3f} "
                       f"(< min_improvement {spec.rounds.min_improvement}): no more rounds")
    if not errors.height:
        stopped = stopped or "the student gets every labelled seed right: nothing to expand"
    if stopped:
        context.log.info(stopped)
        errors = errors.clear()
    return table_output(errors, seed_accuracy=MetadataValue.float(round(accuracy, 4)),
                        stopped=stopped or "", errors_found=int(sum(wrong)))

