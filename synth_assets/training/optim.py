"""The optimiser recipe every torch student shares, so the encoder and the causal LM train alike."""

from __future__ import annotations

from typing import Any

from synth_assets.training.base import TrainConfig


def adamw_with_warmup(model: Any, config: TrainConfig, total_steps: int) -> tuple[Any, Any]:
    """AdamW with linear warmup then linear decay to zero: the standard BERT fine-tuning recipe."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    # Frozen weights (the base model under LoRA) get no optimiser state. Biases and norm weights
    # (the 1-d tensors) are not decayed, as in the BERT recipe.
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=config.learning_rate)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    return optimizer, scheduler
