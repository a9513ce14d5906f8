"""A batch's shared prompt head, run through the model once and its KV cache repeated for every row.

Every prompt of a strategy starts with the same chat-template system turn and instruction; the
transformers backend computes that head's cache for one row and lets each row continue from it.
"""

from __future__ import annotations

import inspect
from typing import Any

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
