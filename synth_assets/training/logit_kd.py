"""Token-level distillation of a causal-LM student from the teacher's stored top-k distributions (offline white-box KD).

The teacher backends store, per generated token, `[token, logprob, [[top token, logprob], ...]]`
(strategies' `top_logprobs: k`, expansions.token_logprobs), as decoded token texts. For one target token
the teacher's k most likely tokens carry probabilities p_1..p_k of its full softmax; whatever they leave,
the tail mass t = 1 − Σ p_i, belongs to every other token of the vocabulary. The student is compared on
the same k + 1 buckets: its probabilities q_i of those k ids and its own mass on all the others,
q_t = 1 − Σ q_i. At temperature T both bucket distributions are renormalised after raising each bucket to
1/T (p_b^(1/T) / Σ p^(1/T)), and the loss of an aligned target token is

    α · T² · KL(p_T ‖ q_T) + (1 − α) · CE,

(the T² keeps the soft term's gradient scale as T changes, as in Hinton et al.). Every other labelled token
(seed rows, misaligned rows, the EOS after each target) keeps plain cross-entropy. Stored logprobs are
rounded, so the top-k may sum a hair past 1: it is then renormalised to 1 with no tail. The sampled token
joins the buckets when it is not among the top-k (its logprob is stored too); a top-k text that names no
single student token is left out, so its probability joins the tail, where the student's mass on it is.

A row lines up when the student's tokenization of its target, token for token, is a contiguous run of the
teacher's generated tokens (a solution cut after its `#### N` line is a prefix); otherwise it is counted as
misaligned and trains on cross-entropy alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any

from synth_assets.training.sft_data import IGNORE, Encoded, Example, collate


@dataclass(frozen=True)
class TeacherTargets:
    """One row's teacher distributions: for target token j (at input position start + j) its bucket ids and probs."""

    start: int
    ids: tuple[tuple[int, ...], ...]  # per target token, the student ids of the teacher's top-k (sampled token added)
    probs: tuple[tuple[float, ...], ...]  # per target token, len(ids[j]) + 1 probabilities at T, the tail last


@dataclass(frozen=True)
class Alignment:
    """What attaching the teacher's tokens did: rows that learn from them and rows that fell back to CE."""

    data: Encoded
    n_kd_rows: int
    n_misaligned: int
    n_kd_tokens: int


def check_teacher_tokens(logits: bool, n: int, teacher_tokens: list[str | None] | None) -> None:
    """Fail before loading a model when the teacher's tokens and TrainConfig.logits do not go together."""
    if logits != (teacher_tokens is not None):
        raise ValueError("TrainConfig.logits and teacher_tokens go together: logit distillation needs the teacher's "
                         "stored tokens per row (None for a row without), and they are learned only with logits on")
    if teacher_tokens is not None and len(teacher_tokens) != n:
        raise ValueError(f"got {n} prompts but {len(teacher_tokens)} teacher_tokens; they must pair up row by row")


def token_index(tokenizer: Any) -> dict[str, int]:
    """Decoded single-token text -> id, as the backends decode each token; texts several ids decode to are left out."""
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    seen: dict[str, int] = {}
    ambiguous: set[str] = set()
    for i, text in enumerate(texts):
        if text in seen:
            ambiguous.add(text)  # e.g. the replacement character of every partial UTF-8 byte
        seen[text] = i
    return {text: i for text, i in seen.items() if text not in ambiguous}


def teacher_buckets(logprobs: list[float], temperature: float = 1.0) -> list[float]:
    """The teacher's top-k probabilities plus the tail mass (last), at `temperature`; sums to 1."""
    probs = [math.exp(lp) for lp in logprobs]
    total = sum(probs)
    if total > 1.0:  # rounded logprobs: renormalise over the top-k, nothing left for the tail
        probs, tail = [p / total for p in probs], 0.0
    else:
        tail = 1.0 - total
    buckets = [*probs, tail]
    if temperature != 1.0:
        powered = [b ** (1.0 / temperature) for b in buckets]
        norm = sum(powered)
        buckets = [b / norm for b in powered]
    return buckets


def _find(run: list[int], tokens: list[int | None]) -> int | None:
    """Where `run` first occurs contiguously in `tokens` (None entries never match), or None."""
    n = len(run)
    for s in range(len(tokens) - n + 1):
        if tokens[s : s + n] == run:
            return s
    return None


def align_row(target_ids: list[int], entries: list[Any], index: dict[str, int],
              temperature: float) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[float, ...], ...]] | None:
    """Per target token (bucket ids, bucket probs at T), or None when the teacher's tokens do not hold the target."""
    chosen = [index.get(e[0]) if isinstance(e, list) and len(e) == 3 and isinstance(e[0], str) else None for e in entries]
    at = _find(target_ids, chosen)
    if at is None:
        return None
    all_ids, all_probs = [], []
    for entry in entries[at : at + len(target_ids)]:
        token, token_lp, top = entry
        pairs: dict[int, float] = {}
        for pair in [*top, [token, token_lp]]:  # the sampled token last: a top-k entry for it wins
            text, lp = pair[0], pair[1]
            j = index.get(text)
            if j is not None and j not in pairs and isinstance(lp, (int, float)) and not math.isnan(lp):
                pairs[j] = float(lp)
        all_ids.append(tuple(pairs))
        all_probs.append(tuple(teacher_buckets(list(pairs.values()), temperature)))
    return tuple(all_ids), tuple(all_probs)


def _target_ids(example: Example) -> tuple[int, list[int]]:
    """(position of the first target token, the target's ids without the EOS that closes it)."""
    start = next(i for i, label in enumerate(example.labels) if label != IGNORE)
    return start, example.input_ids[start:-1]


def attach_teacher(tokenizer: Any, data: Encoded, teacher_tokens: list[str | None], temperature: float) -> Alignment:
    """The examples with their teacher distributions where the stored tokens line up, and the counts."""
    index = token_index(tokenizer)
    examples, kd_rows, misaligned, kd_tokens = [], 0, 0, 0
    for example, row in zip(data.examples, data.rows):
        raw = teacher_tokens[row]
        if raw is None:
            examples.append(example)
            continue
        start, target = _target_ids(example)
        try:
            entries = json.loads(raw)
            aligned = align_row(target, entries, index, temperature) if isinstance(entries, list) else None
        except (ValueError, TypeError, IndexError):  # a malformed row is a misaligned row, not a failed run
            aligned = None
        if aligned is None:
            misaligned += 1
            examples.append(example)
            continue
        kd_rows += 1
        kd_tokens += len(target)
        examples.append(replace(example, teacher=TeacherTargets(start, *aligned)))
    return Alignment(replace(data, examples=examples), kd_rows, misaligned, kd_tokens)


def kd_tensors(examples: list[Example]) -> dict[str, Any]:
    """The batch's aligned target tokens: row, logit column (one before the token), bucket ids, validity, teacher probs."""
    import torch

    rows, cols, ids, probs = [], [], [], []
    for b, example in enumerate(examples):
        t = example.teacher
        if t is None:
            continue
        for j, (token_ids, token_probs) in enumerate(zip(t.ids, t.probs)):
            rows.append(b)
            cols.append(t.start + j - 1)  # the logits at position i predict the token at i + 1
            ids.append(list(token_ids))
            probs.append(list(token_probs))
    width = max((len(i) for i in ids), default=1)
    # padding repeats a real id of the token (every token has its sampled one), so masking it out of the tail is a no-op
    padded = [i + [i[0]] * (width - len(i)) for i in ids]
    valid = [[k < len(i) for k in range(width)] for i in ids]
    # teacher probs: the top-k in their slots, 0 on padding, the tail in the last column
    teacher = [p[:-1] + [0.0] * (width - len(p) + 1) + [p[-1]] for p in probs]
    return {"rows": torch.tensor(rows, dtype=torch.long), "cols": torch.tensor(cols, dtype=torch.long),
            "ids": torch.tensor(padded, dtype=torch.long).view(-1, width), "valid": torch.tensor(valid).view(-1, width),
            "probs": torch.tensor(teacher, dtype=torch.float32).view(-1, width + 1)}


def bucket_kl(logits: Any, ids: Any, valid: Any, probs: Any, temperature: float) -> Any:
    """T² · KL(teacher buckets ‖ student buckets) per token: logits N×V, ids/valid N×K, probs N×(K+1)."""
    import torch

    log_q = torch.log_softmax(logits.float(), dim=-1)
    top = log_q.gather(1, ids).masked_fill(~valid, float("-inf"))
    tail = torch.logsumexp(log_q.scatter(1, ids, float("-inf")), dim=-1, keepdim=True)  # log(1 − Σ q_topk), stably
    log_q_t = torch.log_softmax(torch.cat([top, tail], dim=-1) / temperature, dim=-1)
    present = probs > 0
    # 0 · log 0 is 0: empty buckets (padding, a tail of 0) contribute nothing, and no inf reaches the gradient
    terms = probs * (torch.log(probs.clamp_min(1e-30)) - log_q_t.masked_fill(~present, 0.0))
    return terms.sum(dim=-1) * temperature**2


def kd_accumulate(model: Any, groups: list[list[Example]], pad_id: int, device: Any, autocast: Any,
                  alpha: float, temperature: float) -> tuple[float, float, float | None]:
    """Backward over one accumulation group; returns (loss, CE, KL) per labelled token (KL per aligned token, None without)."""
    import torch

    batches = [(collate(g, pad_id), kd_tensors(g)) for g in groups]
    items = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b, _ in batches)
    kd_items = sum(int(kd["rows"].numel()) for _, kd in batches)
    total = ce_total = kl_total = 0.0
    for batch, kd in batches:
        labels = batch["labels"][:, 1:].to(device)
        with autocast:
            logits = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                           use_cache=False).logits[:, :-1]
        # rows of the vocabulary kept contiguous: cross-entropy over a transposed (B, V, L) view is far slower on CPU
        ce = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                               ignore_index=IGNORE, reduction="none").view(labels.shape)
        loss = ce.sum()
        if kd["rows"].numel():
            rows, cols = kd["rows"].to(device), kd["cols"].to(device)
            kl = bucket_kl(logits[rows, cols], kd["ids"].to(device), kd["valid"].to(device), kd["probs"].to(device),
                           temperature)
            # aligned tokens: α · KL + (1 − α) · CE in place of their plain CE
            loss = loss + alpha * (kl.sum() - ce[rows, cols].sum())
            kl_total += kl.sum().item()
        (loss / items).backward()
        total += loss.item()
        ce_total += ce.sum().item()
    return total / items, ce_total / items, (kl_total / kd_items if kd_items else None)
