"""Supervised fine-tuning of a chat causal LM (LoRA or full) into a plain HF model dir the teacher backend loads.

The student answers in text, so it is not a Classifier: `CausalLMTrainer` (get_trainer("causal_lm"))
trains it on (prompt, target) pairs like any student, and `predict` answers prompts greedily through
TransformersBackend, the same generation code the teacher uses.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synth_assets.student_kinds import CAUSAL_LM_KIND
from synth_assets.training.base import TrainConfig, TrainReport, write_labels
from synth_assets.training.logit_kd import attach_teacher, check_teacher_tokens, kd_accumulate
from synth_assets.training.loss_curve import LossCurve
from synth_assets.training.optim import adamw_with_warmup
from synth_assets.training.sft_data import Encoded, Example, check_pairs, collate, encode_pairs, labelled_tokens

KIND = CAUSAL_LM_KIND
FINETUNE_MODES = ("lora", "full")
ADAPTER_DIR = "adapter"  # the LoRA adapter alone (a few MB), kept beside the merged weights
LOG_EVERY = 10
logger = logging.getLogger("synth.training")


@dataclass
class CausalLMReport(TrainReport):
    """TrainReport plus what only SFT has: the starting loss, speed, and rows cut or left out by max_length."""

    initial_loss: float = math.nan  # loss of the first batch before any update: the base model's fit
    seconds_per_step: float = 0.0  # optimiser steps only, without loading the model
    n_truncated: int = 0
    n_dropped: int = 0
    trainable_params: int = 0
    # logit distillation (config.logits): rows that learn the teacher's token distributions, rows whose stored
    # tokens did not line up with the target (cross-entropy only), and the target tokens that did
    n_kd_rows: int = 0
    n_kd_misaligned: int = 0
    n_kd_tokens: int = 0
    # per point: the last step it covers and the mean loss, CE and KL (KL per aligned token; None without KD)
    loss_curve: list[dict[str, float | None]] = field(default_factory=list)


def check_config(config: TrainConfig) -> None:
    """Reject configs this trainer cannot honour before any model loads, naming the field."""
    if config.kind != KIND:
        raise ValueError(f"TrainConfig.kind is {config.kind!r}; train_causal_lm trains kind {KIND!r}")
    if config.finetune not in FINETUNE_MODES:
        raise ValueError(f"TrainConfig.finetune is {config.finetune!r}; choose one of {', '.join(FINETUNE_MODES)}")
    if config.max_steps is not None and config.max_steps < 1:
        raise ValueError(f"TrainConfig.max_steps is {config.max_steps}; use None (train by epochs) or >= 1")
    for name in ("epochs", "batch_size", "grad_accum", "lora_r", "max_length"):
        if getattr(config, name) < 1:
            raise ValueError(f"TrainConfig.{name} is {getattr(config, name)}; it must be >= 1")
    if not 0.0 <= config.lora_dropout < 1.0:
        raise ValueError(f"TrainConfig.lora_dropout is {config.lora_dropout}; it must be in [0, 1)")


def train_causal_lm(prompts: list[str], targets: list[str], config: TrainConfig, out_dir: Path,
                    teacher_tokens: list[str | None] | None = None) -> CausalLMReport:
    """Fine-tune on (prompt, target) pairs and save a merged, self-contained model dir to `out_dir`.

    `teacher_tokens` (config.logits): per row the teacher's stored token distributions of its target
    (expansions.token_logprobs JSON), None for rows without one (seeds): see training/logit_kd.py.
    """
    model, tokenizer, report = fit(prompts, targets, config, teacher_tokens)
    save(model, tokenizer, config, Path(out_dir))
    return report


class CausalLMTrainer:
    """The causal LM behind the one Trainer call: texts are rendered prompts, targets their answers."""

    kind = KIND

    def train(self, texts: list[str], targets: list[str], labels: list[str] | None, config: TrainConfig,
              out: Path, *, target_probs: list[list[float]] | None = None,
              weights: list[float] | None = None, teacher_tokens: list[str | None] | None = None) -> CausalLMReport:
        """Fine-tune and save; `labels` is not used: the student answers in text (see read_label at predict time)."""
        if target_probs is not None or weights is not None:
            raise ValueError("a causal_lm student learns the teacher's text; soft label targets and row weights are for classifiers")
        return train_causal_lm(texts, targets, config, out, teacher_tokens)


def fit(prompts: list[str], targets: list[str], config: TrainConfig,
        teacher_tokens: list[str | None] | None = None) -> tuple[Any, Any, CausalLMReport]:
    """Train in memory; the returned model is a PeftModel under LoRA (save() merges it)."""
    # Validate before the heavy imports so a bad row fails in milliseconds, not after loading torch.
    check_config(config)
    check_pairs(prompts, targets)
    check_teacher_tokens(config.logits, len(prompts), teacher_tokens)
    import torch
    from tqdm.auto import tqdm

    start_time = time.perf_counter()
    # Seeding before the model is built fixes the LoRA init and dropout masks; the generator fixes
    # the shuffle order. Together they make a CPU run repeat bit for bit.
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, tokenizer = _load(config, device)
    data = _encode(tokenizer, prompts, targets, config)
    kd = None
    if teacher_tokens is not None:
        kd = attach_teacher(tokenizer, data, teacher_tokens, config.temperature)
        data = kd.data
        logger.info("logit distillation: %d rows learn the teacher's token distributions (%d tokens), %d rows "
                    "whose stored tokens do not line up with the target train on cross-entropy alone",
                    kd.n_kd_rows, kd.n_kd_tokens, kd.n_misaligned)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    n = len(data.examples)
    micro_per_epoch = math.ceil(n / config.batch_size)
    steps_per_epoch = math.ceil(micro_per_epoch / config.grad_accum)
    total_steps = config.max_steps or steps_per_epoch * config.epochs
    optimizer, scheduler = adamw_with_warmup(model, config, total_steps)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.info(
        "fine-tuning %s (%s, %d trainable params) on %d rows: %d steps of %d x %d rows on %s",
        config.base_model, config.finetune, trainable, n, total_steps, config.batch_size, config.grad_accum, device,
    )
    # bf16 autocast on GPU keeps fp32 master weights (AdamW on bf16 weights loses small updates).
    autocast = torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    model.train()
    loop_start = time.perf_counter()
    bar = tqdm(total=total_steps, desc="sft", disable=not sys.stderr.isatty())
    loop = _Loop(model=model, optimizer=optimizer, scheduler=scheduler, device=device, autocast=autocast,
                 config=config, total_steps=total_steps, data=data, pad_id=pad_id, bar=bar, curve=LossCurve(total_steps))
    epoch = 0
    epoch_losses: list[float] = []
    while loop.step < total_steps:
        epoch_losses = loop.epoch(torch.randperm(n, generator=generator).tolist(), epoch)
        epoch += 1
        if steps_per_epoch > 1:  # with one step per epoch the step lines already say it all
            logger.info("epoch %d mean loss %.4f over %d steps", epoch, sum(epoch_losses) / len(epoch_losses),
                        len(epoch_losses))
    bar.close()
    model.eval()
    report = _report(loop, epoch_losses, len(prompts), trainable, start_time, loop_start)
    if kd is not None:
        report.n_kd_rows, report.n_kd_misaligned, report.n_kd_tokens = kd.n_kd_rows, kd.n_misaligned, kd.n_kd_tokens
    return model, tokenizer, report


@dataclass
class _Loop:
    """The optimisation loop's fixed parts and step count in one handle, so `fit` reads as setup, epochs, report."""

    model: Any
    optimizer: Any
    scheduler: Any
    device: Any
    autocast: Any
    config: TrainConfig
    total_steps: int
    data: Encoded
    pad_id: int
    bar: Any
    step: int = 0
    initial_loss: float = math.nan  # the first step's loss: the base model's fit before any update
    curve: LossCurve | None = None

    def epoch(self, order: list[int], epoch: int) -> list[float]:
        """One pass over the rows in `order`, cut short at total_steps; returns each step's loss."""
        size, accum = self.config.batch_size, self.config.grad_accum
        micro = [order[i : i + size] for i in range(0, len(order), size)]
        losses: list[float] = []
        for g in range(0, len(micro), accum):
            value = self.update([[self.data.examples[i] for i in idx] for idx in micro[g : g + accum]])
            losses.append(value)
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{value:.4f}")
            if self.step % LOG_EVERY == 0 or self.step == self.total_steps:
                lr = self.scheduler.get_last_lr()[0]
                logger.info("step %d/%d epoch %d loss %.4f lr %.2e", self.step, self.total_steps, epoch + 1, value, lr)
            if self.step == self.total_steps:
                break
        return losses

    def update(self, groups: list[list[Example]]) -> float:
        """One optimiser step over one accumulation group; returns the group's loss per labelled token."""
        import torch

        config = self.config
        if config.logits:
            value, ce, kl = kd_accumulate(self.model, groups, self.pad_id, self.device, self.autocast, config.alpha,
                                          config.temperature)
        else:  # plain SFT: the model's own loss, as before logit distillation existed
            value = _accumulate(self.model, [collate(g, self.pad_id) for g in groups], self.device, self.autocast)
            ce, kl = value, None
        if self.curve is not None:
            self.curve.add(self.step + 1, value, ce, kl)
        torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.initial_loss = value if self.step == 1 else self.initial_loss
        return value


def _report(loop: _Loop, epoch_losses: list[float], n_rows: int, trainable: int, start_time: float,
            loop_start: float) -> CausalLMReport:
    """Close the run with its report and summary log line; seconds_per_step times the loop alone."""
    end_time = time.perf_counter()
    seconds = end_time - start_time
    # The last (possibly partial) pass over the data describes the model that is saved.
    train_loss = sum(epoch_losses) / len(epoch_losses)
    report = CausalLMReport(
        train_loss=train_loss, seconds=seconds, steps=loop.step, n_rows=n_rows, initial_loss=loop.initial_loss,
        seconds_per_step=(end_time - loop_start) / loop.step, n_truncated=len(loop.data.truncated),
        n_dropped=len(loop.data.dropped), trainable_params=trainable, loss_curve=loop.curve.points if loop.curve else [],
    )
    logger.info("trained %d steps in %.1f s, loss %.4f -> %.4f", loop.step, seconds, loop.initial_loss, train_loss)
    return report


def _accumulate(model: Any, batches: list[dict[str, Any]], device: Any, autocast: Any) -> float:
    """Backward over one accumulation group; returns its mean loss per labelled token."""
    # Token losses are summed over the whole group and divided once, so every labelled token weighs
    # the same however the rows fall into micro-batches (a mean of micro-batch means would not).
    items = sum(labelled_tokens(b) for b in batches)
    value = 0.0
    for batch in batches:
        with autocast:
            out = model(**{k: v.to(device) for k, v in batch.items()}, use_cache=False, num_items_in_batch=items)
        out.loss.backward()
        value += out.loss.item()
    return value


def _load(config: TrainConfig, device: Any) -> tuple[Any, Any]:
    """Base model in fp32 plus tokenizer; under LoRA only the adapter's weights train."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from synth_assets.models.embedded import local_model_dir

    path = local_model_dir(config.base_model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.chat_template is None:
        raise ValueError(f"base_model {config.base_model!r} has no chat template; use an instruct/chat model")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(device)
    if config.finetune == "lora":
        from peft import LoraConfig, get_peft_model

        # "all-linear" is peft's architecture-independent choice: every linear layer but the output head.
        modules = config.target_modules
        target: str | list[str] = "all-linear" if tuple(modules) == ("all-linear",) else list(modules)
        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                          target_modules=target, task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)
    return model, tokenizer


def _encode(tokenizer: Any, prompts: list[str], targets: list[str], config: TrainConfig) -> Encoded:
    """Encode all pairs and say in the log which rows max_length shortened or left out."""
    data = encode_pairs(tokenizer, prompts, targets, config.max_length)
    if data.truncated:
        logger.warning("max_length %d: %d rows had their prompt cut to fit (first rows: %s)",
                       config.max_length, len(data.truncated), data.truncated[:10])
    if data.dropped:
        logger.warning("max_length %d: %d rows left out because their target alone does not fit (first rows: %s)",
                       config.max_length, len(data.dropped), data.dropped[:10])
    if not data.examples:
        raise ValueError(f"max_length {config.max_length} is too short for every row's target; raise max_length")
    return data


def save(model: Any, tokenizer: Any, config: TrainConfig, out_dir: Path) -> None:
    """Write merged weights, tokenizer and chat template: a plain HF dir, loadable without peft."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if config.finetune == "lora":
        model.save_pretrained(out_dir / ADAPTER_DIR)
        model = model.merge_and_unload()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    # No label set: the student answers in free text. The file still says what the dir is and how it was trained.
    write_labels(out_dir, KIND, [], config)


def predict(model: str | Path, prompts: list[str], max_new_tokens: int = 64, batch_size: int = 16) -> list[str]:
    """Greedy answers, one per prompt, from a saved student (or any causal LM name) via TransformersBackend."""
    from synth_assets.inference.base import GenerationRequest, SamplingParams
    from synth_assets.inference.transformers_backend import TransformersBackend

    backend = TransformersBackend(model=str(model), batch_size=batch_size)
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0)
    results = backend.generate([GenerationRequest(messages=(("user", p),), params=params) for p in prompts])
    for row, result in enumerate(results):
        if not result.ok:
            raise RuntimeError(f"prompt {row}: generation failed: {result.error}")
    return [result.text or "" for result in results]
