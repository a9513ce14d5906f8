"""Student checkpoints: a seeds-only baseline and the synthetic-data student, via the checkpoint cache."""

from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl
from dagster import AssetExecutionContext, AssetIn, MetadataValue, asset

from synth_assets.assets.common import TABLE_KINDS, Build
from synth_assets.assets.run_log import forward_logs
from synth_assets.hashing import frame_hash
from synth_assets.storage.checkpoints import cached_checkpoint, checkpoint_key
from synth_assets.storage.lease import leased
from synth_assets.storage.outputs import table_output
from synth_assets.student_kinds import CAUSAL_LM_KIND
from synth_assets.training import get_trainer
from synth_assets.training.base import TrainConfig
from synth_assets.training.checkpoint import Checkpoint
from synth_assets.training.prompts import student_prompt

CODE_VERSION = "2"  # 2: round column
VARIANTS = {"seeds_only": pl.col("origin") == "seed", "synthetic": pl.lit(True)}
CHECKPOINT_SCHEMA = {
    "checkpoint_id": pl.String, "variant": pl.String, "round": pl.Int64, "path": pl.String, "kind": pl.String, "base_model": pl.String,
    "train_set_version": pl.String, "config_hash": pl.String, "n_rows": pl.Int64, "train_loss": pl.Float64,
    "steps": pl.Int64, "seconds": pl.Float64,
}


def train_config(b: Build) -> TrainConfig:
    s = b.spec.student
    return TrainConfig(kind=s.kind, base_model=s.base_model, epochs=s.epochs, learning_rate=s.learning_rate,
                       batch_size=s.batch_size, max_length=s.max_length, seed=s.seed, finetune=s.finetune,
                       lora_r=s.lora_r, lora_alpha=s.lora_alpha, lora_dropout=s.lora_dropout,
                       target_modules=tuple(s.target_modules), max_steps=s.max_steps, grad_accum=s.grad_accum,
                       soft_labels=s.distill.soft_labels, temperature=s.distill.temperature,
                       alpha=s.distill.alpha, logits=s.distill.logits, precision=s.precision)


@dataclass(frozen=True)
class TrainingInputs:
    """Exactly what one student trains on, and the checkpoint key that names it."""

    # input, target, and target_probs / weight / teacher_token_logprobs when they carry more than the hard target
    data: pl.DataFrame
    config: TrainConfig
    version: str  # frame_hash(data): the train_set version in the key
    key: str


def _beyond_hard(rows: pl.DataFrame, labels: list[str]) -> tuple[str, ...]:
    """The distillation columns (train_set.DISTILL_SCHEMA) that say more than the hard target: soft or weighted rows."""
    extra = []
    if "target_probs" in rows.columns:
        pairs = zip(rows["target_probs"].to_list(), rows["target"].to_list())
        one_hot = all(p == [float(label == t) for label in labels] for p, t in pairs)
        extra += [] if one_hot else ["target_probs"]
    if "weight" in rows.columns and not (rows["weight"] == 1.0).all():
        extra.append("weight")
    return tuple(extra)


def _teacher_tokens(rows: pl.DataFrame) -> tuple[str, ...]:
    """("teacher_token_logprobs",) when some row carries the teacher's token distributions (student.distill.logits)."""
    column = "teacher_token_logprobs"
    return (column,) if column in rows.columns and rows[column].is_not_null().any() else ()


def training_inputs(b: Build, train_rows: pl.DataFrame) -> TrainingInputs:
    """The rows, config and key of a student trained on `train_rows` (a train_set, or a variant's part of it).

    Soft targets and weights enter the data (and so the key) only where they differ from a hard-label fit:
    rows that are all one-hot with weight 1 (the seeds_only variant) train, and are keyed, exactly as hard labels.
    """
    config = train_config(b)
    extra = _teacher_tokens(train_rows) if config.kind == CAUSAL_LM_KIND else _beyond_hard(train_rows, b.spec.labels)
    if config.soft_labels and "target_probs" not in extra:
        config = replace(config, soft_labels=False)  # nothing soft to learn: the hard-label config and key
    if config.logits and not extra:
        config = replace(config, logits=False)  # no teacher distribution (seeds_only): the SFT config and key
    data = train_rows.select("input", "target", *extra)
    if config.kind == CAUSAL_LM_KIND:
        # the rendered prompt is what the model learns from: an instruction edit must change the checkpoint key
        data = data.with_columns(pl.col("input").map_elements(lambda t: student_prompt(b.spec, t), return_dtype=pl.String))
    data = data.sort("input", "target", *extra)
    version = frame_hash(data)
    return TrainingInputs(data, config, version, checkpoint_key(version, config.as_dict(), config.base_model))


def _fit(b: Build, inputs: TrainingInputs, out: Path):
    """Train the student of `inputs` into `out`: classifiers learn labels (soft or weighted when the data says so)."""
    data, config = inputs.data, inputs.config
    extra = {}
    if "target_probs" in data.columns:
        extra["target_probs"] = data["target_probs"].to_list()
    if "weight" in data.columns:
        extra["weights"] = data["weight"].to_list()
    if "teacher_token_logprobs" in data.columns:
        extra["teacher_tokens"] = data["teacher_token_logprobs"].to_list()
    # a causal LM learns text answers to the rendered prompts (and, with logits on, the teacher's token distributions)
    return get_trainer(config.kind).train(data["input"].to_list(), data["target"].to_list(), b.spec.labels, config, out, **extra)


def train_variant(b: Build, context: AssetExecutionContext, train_rows: pl.DataFrame, variant: str,
                  round_: int = 0) -> tuple[Checkpoint, bool]:
    """One student trained on these rows, or reused from the checkpoint cache (then the flag is True)."""
    inputs = training_inputs(b, train_rows)
    config, key, version = inputs.config, inputs.key, inputs.version
    learns = [c for c in ("target_probs", "weight", "teacher_token_logprobs") if c in inputs.data.columns]
    context.log.info(f"student {variant} (round {round_}): {inputs.data.height} rows, checkpoint {key}"
                     + (f", learning from {' and '.join(learns)}" if learns else ""))
    with forward_logs(context):
        path, manifest, hit = cached_checkpoint(
            b.root, key, lambda out: _fit(b, inputs, out),
            {"variant_first_trained_as": variant, "config": config.as_dict(), "train_set_version": version},
        )
    if "n_kd_rows" in manifest and config.logits:
        context.log.info(f"student {variant}: {manifest['n_kd_rows']} rows learned the teacher's token distributions, "
                         f"{manifest['n_kd_misaligned']} misaligned rows fell back to cross-entropy")
    checkpoint = Checkpoint(
        checkpoint_id=key, variant=variant, round=round_, path=str(path / "model"), kind=config.kind,
        base_model=config.base_model, train_set_version=version, config_hash=checkpoint_key("", config.as_dict(), ""),
        n_rows=inputs.data.height, train_loss=manifest["train_loss"], steps=manifest["steps"], seconds=manifest["seconds"],
    )
    return checkpoint, hit


def synthetic_student(student_checkpoint: pl.DataFrame) -> Checkpoint:
    """The synthetic-data student of a student_checkpoint table (round 0's or a round's): the one the next round asks."""
    return Checkpoint.from_row(student_checkpoint.filter(pl.col("variant") == "synthetic").row(0, named=True))


def checkpoint_output(trained: list[tuple[Checkpoint, bool]]):
    """The student_checkpoint table plus which checkpoints were reused rather than trained."""
    # reuse is run metadata, not content: in the table it would change the data version of identical checkpoints
    reused = {c.variant: hit for c, hit in trained}
    df = pl.DataFrame([c.row() for c, _ in trained], schema=CHECKPOINT_SCHEMA)
    return table_output(df, reused=MetadataValue.json(reused), trained=sum(not h for h in reused.values()))


def build_student(b: Build, r: int = 0):
    """The student_checkpoint asset of round r: round 0 trains the seeds-only baseline and the synthetic-data
    student; round r trains the synthetic-data student on train_set_r."""
    spec = b.spec
    if r == 0:
        version = f"{CODE_VERSION}-{spec.section_hash('student', 'labels', 'instruction', 'task')}"
        description = ("One row per trained student (seeds-only baseline, synthetic-data student). A checkpoint is keyed by "
                       "hash(train rows, training config, base model) and reused whenever that key exists.")
    else:
        version = f"{b.round_version(r)}-{spec.section_hash('student', 'labels', 'instruction', 'task')}"
        description = f"The round-{r} student, trained on train_set_r{r} (reused from the checkpoint cache when it exists)."

    @asset(key=b.key("student_checkpoint", r), ins={"train_set": AssetIn(key=b.key("train_set", r))}, group_name=b.group,
           kinds=TABLE_KINDS | {"torch"}, code_version=version, description=description)
    @leased(b.root)
    def student_checkpoint(context: AssetExecutionContext, train_set: pl.DataFrame):
        variants = VARIANTS if r == 0 else {"synthetic": VARIANTS["synthetic"]}
        return checkpoint_output([train_variant(b, context, train_set.filter(selector), variant, round_=r)
                                  for variant, selector in variants.items()])

    return student_checkpoint
