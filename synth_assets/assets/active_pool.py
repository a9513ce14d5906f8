"""active_pool_r<r>: the unlabelled pool rows round r's teacher labels, chosen by the current student's uncertainty.

PGKD's loop: the teacher labels part of the pool, the student trains, and the rows the student is
least sure of go to the teacher next, so teacher calls land where they can still change the
student. Each round takes `rounds.active.pool_rows` rows that no earlier round labelled.
"""

import polars as pl
from dagster import AssetExecutionContext, AssetIn, MetadataValue, asset

from synth_assets.assets.common import TABLE_KINDS, Build
from synth_assets.assets.student import synthetic_student
from synth_assets.evaluation.students import student_outputs
from synth_assets.evaluation.uncertainty import most_uncertain, uncertainty
from synth_assets.filters.rows import label_rows
from synth_assets.storage.lease import leased
from synth_assets.storage.outputs import table_output

SCHEMA = {"seed_id": pl.String, "input": pl.String, "target": pl.String, "student_prediction": pl.String,
          "uncertainty": pl.Float64, "rank": pl.Int64, "round": pl.Int64, "checkpoint_id": pl.String}


def labelled_before(expansions: list[pl.DataFrame]) -> pl.Series:
    """Seeds an earlier round already sent to the teacher for a label (failed calls included: they would fail again)."""
    ids = [df.filter(label_rows())["seed_id"] for df in expansions]
    return pl.concat(ids).unique() if ids else pl.Series("seed_id", [], pl.String)


def build_active_pool(b: Build, r: int):
    """The round-r selection asset (rounds.active)."""
    spec = b.spec
    active = spec.rounds.active
    earlier = {f"expansions_{i}": AssetIn(key=b.key("expansions", i)) for i in range(r)}

    @asset(key=b.key("active_pool", r), ins={"student_checkpoint": AssetIn(key=b.key("student_checkpoint", r - 1)),
                                            "seeds": AssetIn(key=b.key("seeds")), **earlier},
           group_name=b.group, kinds=TABLE_KINDS, code_version=f"{b.round_version(r)}-{spec.section_hash('labels', 'task')}",
           description=f"Round {r}: the {active.pool_rows} unlabelled pool rows the round-{r - 1} student is least sure of "
                       f"({active.selection}), for the teacher to label (PGKD active selection).")
    @leased(b.root)
    def active_pool(context: AssetExecutionContext, student_checkpoint: pl.DataFrame, seeds: pl.DataFrame,
                    **earlier_expansions: pl.DataFrame):
        student = synthetic_student(student_checkpoint)
        done = labelled_before(list(earlier_expansions.values()))
        pool = seeds.filter(pl.col("target").is_null() & ~pl.col("seed_id").is_in(done.implode()))
        ids, texts = pool["seed_id"].to_list(), pool["input"].to_list()
        ranked = active.selection != "random"
        outputs = student_outputs(spec, student, texts) if ranked and texts else None
        chosen = [sid for sid, _ in most_uncertain(ids, outputs, active.selection, active.pool_rows, salt=f"round-{r}")]
        text_of = dict(zip(ids, texts))
        # a random pick is still answered by the student, for the record (and the same score, to compare rounds)
        answers = dict(zip(ids, outputs)) if outputs else dict(zip(chosen, student_outputs(spec, student, [text_of[s] for s in chosen])
                                                                 if chosen else []))
        measure = active.selection if ranked else "margin"
        df = pl.DataFrame([{"seed_id": sid, "input": text_of[sid], "target": None, "student_prediction": answers[sid].label,
                            "uncertainty": uncertainty(answers[sid], measure) if answers[sid].probs else None,
                            "rank": k, "round": r, "checkpoint_id": student.checkpoint_id} for k, sid in enumerate(chosen)],
                          schema=SCHEMA)
        if outputs:
            context.log.info(f"round {r}: {df.height} of {pool.height} unlabelled rows chosen; mean {measure} uncertainty "
                             f"{df['uncertainty'].mean():.3f} vs {sum(uncertainty(o, measure) for o in outputs) / len(outputs):.3f} pool-wide")
        return table_output(df, pool_left=pool.height, already_labelled=done.len(), selection=active.selection,
                            mean_uncertainty=MetadataValue.float(round(float(df["uncertainty"].mean() or 0.0), 4)))

    return active_pool
