"""student_errors_r<r>: the labelled seeds round r-1's synthetic-data student gets wrong, round r's seeds (LLM2LLM).

A round stops early (an empty table) when the previous round's student did not improve on the
labelled seeds by `rounds.min_improvement`, or when the previous round had no errors to expand.
"""

import polars as pl
from dagster import AssetExecutionContext, AssetIn, MetadataValue, asset

from synth_assets.assets.common import TABLE_KINDS, Build
from synth_assets.assets.student import synthetic_student
from synth_assets.evaluation.scoring import is_correct
from synth_assets.evaluation.students import student_outputs
from synth_assets.spec import PipelineSpec
from synth_assets.storage.lease import leased
from synth_assets.storage.outputs import table_output

ERRORS_SCHEMA = {"seed_id": pl.String, "input": pl.String, "target": pl.String, "prediction": pl.String,
                 "true_prob": pl.Float64, "round": pl.Int64, "checkpoint_id": pl.String}


def _stop_reason(spec: PipelineSpec, r: int, accuracy: float, labelled: int, previous_errors: pl.DataFrame | None) -> str | None:
    """Why round r expands nothing, judged from the previous round's errors; None when it goes on."""
    if previous_errors is None:
        return None
    if previous_errors.height == 0:
        return f"round {r - 1} had no errors to expand (stopped or nothing to fix): no more rounds"
    before = 1 - previous_errors.height / labelled if labelled else None
    if before is not None and accuracy - before < spec.rounds.min_improvement:
        return (f"round {r - 1} changed seed accuracy by {accuracy - before:+.3f} "
                f"(< min_improvement {spec.rounds.min_improvement}): no more rounds")
    return None


def student_errors_table(spec: PipelineSpec, r: int, context: AssetExecutionContext, student_checkpoint: pl.DataFrame,
                         seeds: pl.DataFrame, previous_errors: pl.DataFrame | None):
    """The wrongly predicted labelled seeds, or none when the previous round did not improve enough."""
    student = synthetic_student(student_checkpoint)
    labelled = seeds.filter(pl.col("target").is_not_null())
    outputs = student_outputs(spec, student, labelled["input"].to_list())
    # wrong, or right without conviction: both are what the next round should teach
    wrong = [not is_correct(spec, o.label, t) or (bool(o.probs) and o.probs.get(t, 0.0) < spec.rounds.uncertain_below)
             for o, t in zip(outputs, labelled["target"])]
    errors = labelled.select("seed_id", "input", "target").with_columns(
        pl.Series("prediction", [o.label for o in outputs], dtype=pl.String),
        pl.Series("true_prob", [o.probs.get(t) if o.probs else None for o, t in zip(outputs, labelled["target"])],
                  dtype=pl.Float64),
        pl.lit(r, pl.Int64).alias("round"),
        pl.lit(student.checkpoint_id).alias("checkpoint_id"),
    ).filter(pl.Series(wrong)).cast(ERRORS_SCHEMA)
    accuracy = 1 - errors.height / labelled.height if labelled.height else 0.0
    stopped = _stop_reason(spec, r, accuracy, labelled.height, previous_errors)
    if not errors.height:
        stopped = stopped or "the student gets every labelled seed right: nothing to expand"
    if stopped:
        context.log.info(stopped)
        errors = errors.clear()
    return table_output(errors, seed_accuracy=MetadataValue.float(round(accuracy, 4)),
                        stopped=stopped or "", errors_found=int(sum(wrong)))


def build_student_errors(b: Build, r: int):
    """The student_errors asset of round r >= 1."""
    ins = {"student_checkpoint": AssetIn(key=b.key("student_checkpoint", r - 1)), "seeds": AssetIn(key=b.key("seeds"))}
    if r > 1:
        ins["previous_errors"] = AssetIn(key=b.key("student_errors", r - 1))

    @asset(key=b.key("student_errors", r), ins=ins, group_name=b.group, kinds=TABLE_KINDS,
           code_version=f"{b.round_version(r)}-{b.spec.section_hash('labels', 'task')}",
           description=f"Labelled seeds the round-{r - 1} synthetic-data student gets wrong: round {r}'s seeds (LLM2LLM).")
    @leased(b.root)
    def student_errors(context: AssetExecutionContext, student_checkpoint: pl.DataFrame, seeds: pl.DataFrame,
                       **previous: pl.DataFrame):
        return student_errors_table(b.spec, r, context, student_checkpoint, seeds, previous.get("previous_errors"))

    return student_errors
