"""(prompt, target) pairs to labelled token ids for supervised fine-tuning of a chat causal LM.

The prompt is rendered exactly as the transformers backend renders it at inference (user turn +
the template's assistant header), so the student learns to continue the very ids it will be given.
Only the target and the EOS after it carry labels: the model learns to answer and to stop, not to
reproduce prompts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from synth_assets.inference.transformers_backend import chat_prompt_ids

if TYPE_CHECKING:
    from synth_assets.training.logit_kd import TeacherTargets

IGNORE = -100  # the label torch's cross-entropy skips


@dataclass(frozen=True)
class Example:
    """One training sequence: prompt ids then target ids + EOS; labels are -100 over the prompt."""

    input_ids: list[int]
    labels: list[int]
    # the teacher's distribution of each target token, where its stored tokens line up (student.distill.logits)
    teacher: TeacherTargets | None = None


@dataclass
class Encoded:
    """The examples that fit max_length, plus which source rows were shortened or left out."""

    examples: list[Example]
    rows: list[int]  # source row of each example
    truncated: list[int] = field(default_factory=list)  # rows whose prompt lost its tail to fit
    dropped: list[int] = field(default_factory=list)  # rows whose target alone does not fit


def check_pairs(prompts: list[str], targets: list[str]) -> None:
    """Fail before loading a model, naming the row, on inputs no training run can use."""
    if len(prompts) != len(targets):
        raise ValueError(f"got {len(prompts)} prompts but {len(targets)} targets; they must pair up row by row")
    if not prompts:
        raise ValueError("the train set is empty; a student needs at least one (prompt, target) row")
    for row, (prompt, target) in enumerate(zip(prompts, targets)):
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"row {row} has an empty prompt; drop the row or fill its input")
        if not isinstance(target, str) or not target.strip():
            raise ValueError(f"row {row} has an empty target; a causal-LM student needs an answer text to learn")


def eos_id(tokenizer: Any) -> int:
    """The token that ends an assistant turn; the backend stops generating at it."""
    if tokenizer.eos_token_id is None:
        raise ValueError(f"tokenizer {tokenizer.name_or_path!r} has no eos token; the student could not learn to stop")
    return int(tokenizer.eos_token_id)


def encode_pair(tokenizer: Any, prompt: str, target: str, max_length: int) -> tuple[Example | None, bool]:
    """(example or None when even the target cannot fit, whether the prompt was truncated)."""
    target_ids = list(tokenizer(target, add_special_tokens=False)["input_ids"]) + [eos_id(tokenizer)]
    prompt_ids = chat_prompt_ids(tokenizer, (("user", prompt),))
    truncated = False
    if len(prompt_ids) + len(target_ids) > max_length:
        prompt_ids = _shorten_prompt(tokenizer, prompt, max_length - len(target_ids))
        if prompt_ids is None:
            return None, False
        truncated = True
    return Example(prompt_ids + target_ids, [IGNORE] * len(prompt_ids) + target_ids), truncated


def _shorten_prompt(tokenizer: Any, prompt: str, budget: int) -> list[int] | None:
    """Prompt ids within `budget`, cutting the user text's tail so the template's markers stay whole.

    The head of a prompt usually holds the instruction; cutting raw ids instead could remove the
    system header or the assistant marker the answer must follow. None when no user text fits.
    """
    content = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    keep = min(len(content), budget - len(chat_prompt_ids(tokenizer, (("user", ""),))))
    while keep > 0:
        ids = chat_prompt_ids(tokenizer, (("user", tokenizer.decode(content[:keep])),))
        if len(ids) <= budget:
            return ids
        # Decoding then re-encoding can merge or split tokens at the cut; shrink by the overshoot.
        keep -= len(ids) - budget
    return None


def encode_pairs(tokenizer: Any, prompts: list[str], targets: list[str], max_length: int) -> Encoded:
    """Encode every pair; targets are never cut, a row whose target cannot fit is dropped and counted."""
    encoded = Encoded(examples=[], rows=[])
    for row, (prompt, target) in enumerate(zip(prompts, targets)):
        example, truncated = encode_pair(tokenizer, prompt, target, max_length)
        if example is None:
            encoded.dropped.append(row)
            continue
        encoded.examples.append(example)
        encoded.rows.append(row)
        if truncated:
            encoded.truncated.append(row)
    return encoded


def collate(examples: list[Example], pad_id: int) -> dict[str, Any]:
    """Right-pad one batch: padding is masked out of attention and labelled -100, so it costs no loss."""
    import torch

    width = max(len(e.input_ids) for e in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        input_ids[i, :n] = torch.tensor(e.input_ids, dtype=torch.long)
        labels[i, :n] = torch.tensor(e.labels, dtype=torch.long)
        attention_mask[i, :n] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def labelled_tokens(batch: dict[str, Any]) -> int:
    """Tokens that enter the loss (labels shift by one inside the model, so the first column never does)."""
    return int((batch["labels"][:, 1:] != IGNORE).sum())
