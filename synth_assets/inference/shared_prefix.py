"""A batch of prompts as model inputs: left-padded, with the head they all share run through the model once.

Every prompt of a strategy starts with the same chat-template system turn and instruction (56 of
the sentiment rephrase prompts' 121 tokens). Its KV cache is computed for one row and repeated for
the batch; each row's own tail follows after its left padding, and the positions count real tokens
only (generate derives them from the mask; scoring passes them), so the model sees exactly the ids
it would see unshared. Measured on one CPU core: 17 % less time for a batch of 16 rephrases in
bf16, 10-20 % in float32 with identical greedy text; 8-19 % for label scoring.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

MIN_SHARED_PREFIX = 16  # tokens: below this, the extra pass over the shared head costs about what it saves


def shared_prefix(prompts: list[list[int]]) -> int:
    """Tokens every prompt starts with, leaving each at least one of its own; 0 when too few to be worth a pass."""
    if len(prompts) < 2:
        return 0
    first, limit = prompts[0], min(len(p) for p in prompts) - 1
    n = 0
    while n < limit and all(p[n] == first[n] for p in prompts):
        n += 1
    return n if n >= MIN_SHARED_PREFIX else 0


def prefix_cache(model: Any, prefix: list[int], batch: int) -> Any:
    """The KV cache of `prefix` repeated `batch` times; None for a model whose cache cannot be repeated."""
    import torch

    with torch.inference_mode():
        out = model(input_ids=torch.tensor([prefix], device=model.device), use_cache=True)
    cache = out.get("cache")
    cache = cache if cache is not None else out.get("past_key_values")
    if not hasattr(cache, "batch_repeat_interleave"):
        return None
    cache.batch_repeat_interleave(batch)
    return cache


def cache_kwarg(model: Any) -> str:
    """What this transformers calls the cache argument: `cache` from 5.2x on, `past_key_values` before."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def left_pad(seqs: list[list[int]], pad_id: int, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Left padding puts every sequence's last token in the last column: where generation continues."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, width - len(s):] = torch.tensor(s, dtype=torch.long)
        mask[i, width - len(s):] = 1
    return ids.to(device), mask.to(device)


def batch_inputs(model: Any, prompts: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any], int]:
    """(ids, mask, cache kwargs, shared length) of one batch: the prompts, with their shared head computed once."""
    import torch

    shared = shared_prefix(prompts)
    cache = prefix_cache(model, prompts[0][:shared], len(prompts)) if shared else None
    if cache is None:
        ids, mask = left_pad(prompts, pad_id, model.device)
        return ids, mask, {}, 0
    tail, tail_mask = left_pad([p[shared:] for p in prompts], pad_id, model.device)
    head = torch.tensor([prompts[0][:shared]], dtype=tail.dtype, device=tail.device)
    ids = torch.cat([head.expand(len(prompts), -1), tail], dim=1)
    mask = torch.cat([torch.ones_like(head).expand(len(prompts), -1), tail_mask], dim=1)
    return ids, mask, {cache_kwarg(model): cache}, shared
