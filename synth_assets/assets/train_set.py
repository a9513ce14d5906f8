"""train_set: the exact rows a student sees, each traceable to its seed file row or teacher call (the `lineage` view).

Round 0 is the labelled seeds plus round 0's accepted expansions. Round r is round r-1's train
set plus the accepted round-r rows whose text it does not already hold.

Three columns join TRAIN_SCHEMA only when the spec asks for them (DISTILL_SCHEMA, LOGIT_SCHEMA), so other
pipelines keep their table: `target_probs` (student.distill.soft_labels), `weight` (filters.confidence.mode:
weight) and `teacher_token_logprobs` (student.distill.logits).
"""

import polars as pl
from dagster import AssetIn, MetadataValue, asset

from synth_assets.assets.common import TABLE_KINDS, Build
from synth_assets.filters.confidence import teacher_probs
from synth_assets.filters.dedup import ROW_ORDER
from synth_assets.filters.teacher_labels import Calibration, teacher_calibration
from synth_assets.hashing import stable_hash
from synth_assets.sources.validate import normalise
from synth_assets.spec import PipelineSpec
from synth_assets.storage.io_manager import lazy_input
from synth_assets.storage.lease import leased
from synth_assets.storage.outputs import table_output

CODE_VERSION = "2"  # 2: the rationale column
TRAIN_SCHEMA = {
    "row_id": pl.String, "input": pl.String, "target": pl.String, "origin": pl.String,
    "strategy": pl.String, "seed_id": pl.String, "round": pl.Int64,
    # the teacher's explanation (rationale strategy), for students that learn from explanations
    "rationale": pl.String,
}


# what a student learns besides (input, target); train_set has a column only when the spec turns it on
DISTILL_SCHEMA = {
    # per row a distribution over spec.labels (their order): the teacher's, calibrated as the filters read it and
    # softened at student.distill.temperature, for rows it labelled or checked; one-hot on the target otherwise
    "target_probs": pl.List(pl.Float64),
    # the row's weight in the loss: the teacher's estimated precision at its margin (filtered.confidence_weight)
    # for teacher-labelled rows, 1.0 for seeds and rows without a teacher label
    "weight": pl.Float64,
}
# what a causal-LM student learns besides its target text (student.distill.logits): the teacher's stored top-k
# distribution of every token it generated (expansions.token_logprobs, JSON) for rows whose target it wrote
# (DistillSpec.TEACHER_WRITTEN strategies); null for seeds and every other row
LOGIT_SCHEMA = {"teacher_token_logprobs": pl.String}


def distill_columns(spec: PipelineSpec) -> tuple[str, ...]:
    """The DISTILL_SCHEMA and LOGIT_SCHEMA columns this spec's train_set carries (none when all three are off)."""
    soft = spec.student.distill.soft_labels and spec.task == "classification"
    return (*(("target_probs",) if soft else ()), *(("weight",) if spec.filters.confidence.mode == "weight" else ()),
            *(("teacher_token_logprobs",) if spec.student.distill.logits else ()))


def _target_probs(df: pl.DataFrame, spec: PipelineSpec, calibration: Calibration) -> pl.Series:
    """The teacher's distribution at T where it scored the row's label (label and checked rows), else one-hot."""
    temperature = spec.student.distill.temperature
    rows = df.select("_label_scores", "_teacher_label", "target").iter_rows()
    probs = [teacher_probs(scores, spec.labels, calibration.correction, temperature) if scores and teacher_label
             else [float(label == target) for label in spec.labels] for scores, teacher_label, target in rows]
    return pl.Series("target_probs", probs, DISTILL_SCHEMA["target_probs"])


def with_distill(rows: pl.DataFrame, filtered: pl.DataFrame | pl.LazyFrame, spec: PipelineSpec,
                 calibration: Calibration | None) -> pl.DataFrame:
    """`rows` (train_set rows) with the spec's DISTILL_SCHEMA and LOGIT_SCHEMA columns, read from their rows of `filtered`."""
    columns = distill_columns(spec)
    wanted = [*(["label_scores", "teacher_label"] if "target_probs" in columns else []),
              *(["confidence_weight"] if "weight" in columns else []),
              *(["token_logprobs"] if "teacher_token_logprobs" in columns else [])]
    teacher = (filtered.lazy().filter(pl.col("row_id").is_in(rows["row_id"].implode()))
               .select("row_id", *[pl.col(c).alias(f"_{c}") for c in wanted]).collect())
    # a seed is its own row, never a teacher call: only expansions look theirs up
    df = rows.join(teacher, on="row_id", how="left", maintain_order="left").with_columns(
        pl.when(pl.col("origin") == "expansion").then(pl.col(f"_{c}")).alias(f"_{c}") for c in wanted)
    if "target_probs" in columns:
        if calibration is None:
            raise ValueError("train_set: soft labels (student.distill.soft_labels) need the teacher calibration "
                             "of the expansions")
        df = df.with_columns(_target_probs(df, spec, calibration))
    if "weight" in columns:
        df = df.with_columns(pl.col("_confidence_weight").fill_null(1.0).alias("weight"))
    if "teacher_token_logprobs" in columns:
        # a strategy that keeps the seed's answer (rephrase) stored the tokens of its new input, not of the target
        written = pl.col("strategy").is_in(spec.student.distill.TEACHER_WRITTEN)
        df = df.with_columns(pl.when(written).then(pl.col("_token_logprobs"))
                             .cast(LOGIT_SCHEMA["teacher_token_logprobs"]).alias("teacher_token_logprobs"))
    return df.select(*TRAIN_SCHEMA, *columns)


def _distill_version(spec: PipelineSpec) -> str:
    """What the distillation columns add to train_set's code version: nothing when they are off."""
    columns = distill_columns(spec)
    if not columns:
        return ""
    soft = spec.student.distill.temperature if "target_probs" in columns else None
    return "-" + stable_hash(columns, soft, spec.filters.confidence.calibrate, length=8)


def accepted_rows(filtered: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """The accepted expansions as train_set rows (origin `expansion`, their round kept), in ROW_ORDER: `filtered` keeps
    the expansions' order, while a train set's order is the one its dedups keep first copies in."""
    return filtered.lazy().filter(pl.col("accepted")).sort(*ROW_ORDER, maintain_order=True).select(
        "row_id", "input", "target", pl.lit("expansion").alias("origin"), "strategy", "seed_id", "round", "rationale"
    ).cast(TRAIN_SCHEMA).collect()


def seed_rows(seeds: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """The labelled seeds as train_set rows (origin `seed`, round 0)."""
    return seeds.lazy().filter(pl.col("target").is_not_null()).select(
        pl.col("seed_id").alias("row_id"), "input", "target", pl.lit("seed").alias("origin"),
        pl.lit(None, pl.String).alias("strategy"), "seed_id", pl.lit(0, pl.Int64).alias("round"),
        pl.lit(None, pl.String).alias("rationale"),
    ).cast(TRAIN_SCHEMA).collect()


def _new_rows(previous: pl.DataFrame, accepted: pl.DataFrame) -> pl.DataFrame:
    """Accepted rows whose text the previous train set does not hold: a text the student already trains on
    teaches nothing new, whichever round produced it."""
    known = previous["input"].map_elements(normalise, return_dtype=pl.String).implode()
    new = accepted.filter(~pl.col("input").map_elements(normalise, return_dtype=pl.String).is_in(known))
    return new.unique(subset="input", keep="first", maintain_order=True)


def _ins(b: Build, r: int) -> dict[str, AssetIn]:
    """filtered, and the seeds (round 0) or the previous train set; soft labels also read the teacher's calibration rows."""
    # filtered, the seeds and the expansions are read a few columns or rows at a time (lazy): a million-row
    # filtered table is never in memory for the accepted rows it holds
    ins = {"filtered": lazy_input(b.key("filtered", r))}
    ins |= {"seeds": lazy_input(b.key("seeds"))} if r == 0 else {"previous": AssetIn(key=b.key("train_set", r - 1))}
    if "target_probs" in distill_columns(b.spec):
        # the rows measured_labels calibrates on: this round's expansions (and after round 0, round 0's label rows)
        ins |= {"expansions": lazy_input(b.key("expansions", r)), "seeds": lazy_input(b.key("seeds"))}
        ins |= {"reference": lazy_input(b.key("expansions", 0))} if r > 0 else {}
    return ins


def build_train_set(b: Build, r: int = 0):
    """The train_set asset of round r."""
    if r == 0:
        version = CODE_VERSION + _distill_version(b.spec)
        description = ("The exact rows a student trains on: labelled seeds plus accepted expansions, each traceable "
                       "via the `lineage` view.")
    else:
        version = b.round_version(r) + _distill_version(b.spec)
        description = f"Round {r - 1}'s train set plus the accepted round-{r} rows."

    @asset(key=b.key("train_set", r), ins=_ins(b, r), group_name=b.group, kinds=TABLE_KINDS, code_version=version,
           description=description)
    @leased(b.root)
    def train_set(filtered: pl.LazyFrame, **inputs: pl.DataFrame | pl.LazyFrame):
        accepted = accepted_rows(filtered)
        before = seed_rows(inputs["seeds"]) if r == 0 else inputs["previous"]
        new = accepted if r == 0 else _new_rows(before, accepted)
        if distill_columns(b.spec):
            calibration = (teacher_calibration(inputs["expansions"], inputs["seeds"], b.spec, inputs.get("reference"))
                           if "expansions" in inputs else None)
            before = with_distill(before, filtered, b.spec, calibration) if r == 0 else before
            new = with_distill(new, filtered, b.spec, calibration)
        df = pl.concat([before, new])
        return table_output(
            df,
            seeds=int((df["origin"] == "seed").sum()),
            expansions=int((df["origin"] == "expansion").sum()),
            added=new.height,
            repeats_dropped=accepted.height - new.height,
            label_counts=MetadataValue.json(dict(df.group_by("target").len().iter_rows())),
            **({"teacher_token_rows": int(df["teacher_token_logprobs"].is_not_null().sum())}
               if "teacher_token_logprobs" in df.columns else {}),
        )

    return train_set
