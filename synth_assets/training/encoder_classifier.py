"""Fine-tune a small encoder (MiniLM by default) as a sequence classifier with a plain torch loop."""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from synth_assets.training.base import (
    Prediction,
    TrainConfig,
    TrainReport,
    check_train_inputs,
    read_meta,
    write_labels,
)
from synth_assets.training.optim import adamw_with_warmup
from synth_assets.training.soft_targets import SoftRows, class_weights, distill_loss, soft_rows

KIND = "encoder_classifier"
LOG_EVERY = 10  # steps between progress log lines: a 300-row, 4-epoch run logs ~8 times
BUCKET_WINDOW = 8  # batches sorted by length together (length_batches)
logger = logging.getLogger("synth.training")


def _device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class FittedEncoder:
    """A model + tokenizer in memory with the label order of its logits; what `train` saves, `load` returns."""

    model: Any  # transformers PreTrainedModel (kept untyped so this module imports without torch)
    tokenizer: Any
    label_set: list[str]
    max_length: int = 128
    precision: str = "float32"  # "bfloat16": autocast for the forward passes, as in training

    def predict(self, texts: list[str], batch_size: int = 64) -> list[Prediction]:
        """Batched softmax over the full label set, returned in input order."""
        import torch

        if not texts:
            return []
        device = next(self.model.parameters()).device
        self.model.eval()
        # Sorting by length keeps similar lengths in a batch, so dynamic padding wastes little compute.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        results: dict[int, Prediction] = {}
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = self.encode([texts[i] for i in idx], device)
                with autocast(device, self.precision):
                    logits = self.model(**batch).logits
                probs = torch.softmax(logits.float(), dim=-1).cpu().tolist()
                for i, row in zip(idx, probs):
                    named = dict(zip(self.label_set, row))
                    results[i] = Prediction(label=max(named, key=named.__getitem__), probs=named)
        return [results[i] for i in range(len(texts))]

    def save(self, out_dir: Path, config: TrainConfig) -> None:
        """Write weights, tokenizer and labels.json so the dir reloads with nothing else at hand."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(out_dir)
        self.tokenizer.save_pretrained(out_dir)
        write_labels(out_dir, KIND, self.label_set, config)

    def encode(self, texts: list[str], device: Any) -> dict[str, Any]:
        """Tokenise one batch onto `device`; shared by training and prediction so both see the same inputs."""
        # Padding per batch (not to max_length) is the main CPU speed-up for short texts.
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return {k: v.to(device) for k, v in batch.items()}


def fit(
    texts: list[str], labels: list[str], label_set: list[str] | None, config: TrainConfig,
    target_probs: list[list[float]] | None = None, weights: list[float] | None = None,
) -> tuple[FittedEncoder, TrainReport]:
    """Fine-tune in memory; split from saving so callers (and tests) can use the model without a reload.

    With `target_probs` and/or `weights` the loss is soft_targets.distill_loss (alpha from the config);
    without, the class-balanced cross-entropy of a hard-label run.
    """
    # Validate before the heavy imports so a bad row fails in milliseconds, not after loading torch.
    check_train_inputs(texts, labels, label_set, config, KIND)
    label_set = list(label_set or [])
    soft = None if target_probs is None and weights is None else soft_rows(labels, label_set, target_probs, weights)
    import torch
    from tqdm.auto import tqdm

    start_time = time.perf_counter()
    # Seeding before the model is built fixes the new head's init and dropout masks; the generator
    # fixes the shuffle order. Together they make a CPU run repeat bit for bit.
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    device = _device()
    fitted = _load_base(config, label_set, device)
    model = fitted.model

    steps_per_epoch = math.ceil(len(texts) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer, scheduler = adamw_with_warmup(model, config, total_steps)
    loss_of = _objective(labels, label_set, device, soft, config.alpha)

    logger.info(
        "training %s on %d rows, %d labels: %d epochs x %d steps on %s",
        config.base_model, len(texts), len(label_set), config.epochs, steps_per_epoch, device,
    )
    model.train()
    step = 0
    epoch_loss = float("nan")
    bar = tqdm(total=total_steps, desc="train", disable=not sys.stderr.isatty())
    lengths = token_lengths(fitted, texts)
    for epoch in range(config.epochs):
        loss_sum = 0.0
        for idx in length_batches(lengths, config.batch_size, generator):
            value = _step(fitted, [texts[i] for i in idx], partial(loss_of, idx), optimizer, scheduler, config.precision)
            step += 1
            loss_sum += value
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4f}")
            if step % LOG_EVERY == 0:
                lr = scheduler.get_last_lr()[0]
                logger.info("step %d/%d epoch %d loss %.4f lr %.2e", step, total_steps, epoch + 1, value, lr)
        epoch_loss = loss_sum / steps_per_epoch
        logger.info("epoch %d/%d mean loss %.4f", epoch + 1, config.epochs, epoch_loss)
    bar.close()
    model.eval()
    return fitted, _report(start_time, epoch_loss, step, len(texts))


def _load_base(config: TrainConfig, label_set: list[str], device: Any) -> FittedEncoder:
    """The pretrained encoder with a fresh head sized to `label_set`; call after seeding, which fixes the head."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from synth_assets.models.embedded import resolve_encoder

    base_dir = resolve_encoder(config.base_model)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForSequenceClassification.from_pretrained(
        base_dir,
        num_labels=len(label_set),
        id2label=dict(enumerate(label_set)),
        label2id={name: i for i, name in enumerate(label_set)},
        problem_type="single_label_classification",
    ).to(device)
    return FittedEncoder(model=model, tokenizer=tokenizer, label_set=list(label_set), max_length=config.max_length,
                         precision=config.precision)


def _objective(labels: list[str], label_set: list[str], device: Any, soft: SoftRows | None,
               alpha: float) -> Callable[[list[int], Any], Any]:
    """The batch loss, given the batch's row indices and the model's logits: hard cross-entropy or distill_loss."""
    import torch

    if soft is None:
        weights = torch.tensor(class_weights(labels, label_set), dtype=torch.float32, device=device)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
        targets = torch.tensor([label_set.index(label) for label in labels], dtype=torch.long)
        return lambda idx, logits: loss_fn(logits, targets[idx].to(device))
    probs = torch.tensor(soft.probs, dtype=torch.float32)
    hard = torch.tensor(soft.hard, dtype=torch.long)
    row_weights = torch.tensor(soft.weights, dtype=torch.float32)
    return lambda idx, logits: distill_loss(logits, probs[idx].to(device), hard[idx].to(device),
                                            row_weights[idx].to(device), alpha)


def token_lengths(fitted: FittedEncoder, texts: list[str]) -> list[int]:
    """Each text's token count as the model sees it (cut at max_length): what a batch pads to."""
    ids = fitted.tokenizer(texts, truncation=True, max_length=fitted.max_length)["input_ids"]
    return [len(row) for row in ids]


def length_batches(lengths: list[int], batch_size: int, generator: Any) -> list[list[int]]:
    """One epoch's batches of row indices: shuffled, then sorted by length within windows of BUCKET_WINDOW batches.

    A batch pads to its longest text, so a random batch of short reviews with one long one costs the
    long one's width for every row (2x the compute here: median 55 tokens, 6 % cut at 128). Sorting
    inside a window keeps similar lengths together; the window and the final shuffle of the batch
    order keep every epoch's batches random in content and order, so training still sees mixed data.
    """
    import torch

    order = torch.randperm(len(lengths), generator=generator).tolist()
    window = batch_size * BUCKET_WINDOW
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
        batches += [chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def autocast(device: Any, precision: str) -> Any:
    """bf16 autocast when the config asks for it (weights and optimiser stay fp32); a no-op context otherwise."""
    import torch

    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bfloat16")


def _step(fitted: FittedEncoder, texts: list[str], loss_of: Callable[[Any], Any], optimizer: Any, scheduler: Any,
          precision: str) -> float:
    """One optimisation step on one batch; returns its loss so the loop can log it and average the epoch."""
    import torch

    device = next(fitted.model.parameters()).device
    batch = fitted.encode(texts, device)
    with autocast(device, precision):
        logits = fitted.model(**batch).logits
    loss = loss_of(logits.float())
    loss.backward()
    torch.nn.utils.clip_grad_norm_(fitted.model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def _report(start_time: float, epoch_loss: float, steps: int, n_rows: int) -> TrainReport:
    """Close the run with its report and summary log line, timed from `start_time` (before the model loaded)."""
    seconds = time.perf_counter() - start_time
    # The last epoch's mean loss describes the model that is saved; earlier epochs are in the log.
    report = TrainReport(train_loss=epoch_loss, seconds=seconds, steps=steps, n_rows=n_rows)
    logger.info("trained %d steps in %.1f s, final epoch loss %.4f", steps, seconds, epoch_loss)
    return report


def load(model_dir: Path) -> FittedEncoder:
    """Reload a dir written by `EncoderClassifier.train` onto the best available device."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    meta = read_meta(model_dir, KIND)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).to(_device())
    model.eval()
    max_length = int(meta["config"]["max_length"])
    # dirs written before the precision field existed trained in float32
    precision = str(meta["config"].get("precision", "float32"))
    return FittedEncoder(model=model, tokenizer=tokenizer, label_set=list(meta["labels"]), max_length=max_length,
                         precision=precision)


class EncoderClassifier:
    """The fine-tuned-encoder student: slower than TF-IDF, but it generalises beyond surface words."""

    kind = KIND

    def train(self, texts: list[str], targets: list[str], labels: list[str] | None, config: TrainConfig,
              out: Path, *, target_probs: list[list[float]] | None = None, weights: list[float] | None = None) -> TrainReport:
        """Fine-tune and save; the dir holds everything `predict` needs."""
        fitted, report = fit(texts, targets, labels, config, target_probs, weights)
        fitted.save(out, config)
        return report

    def predict(self, model_dir: Path, texts: list[str], batch_size: int = 64) -> list[Prediction]:
        """Reload the saved dir and score `texts` in batches."""
        return load(model_dir).predict(texts, batch_size)
