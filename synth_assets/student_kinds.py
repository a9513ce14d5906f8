"""The student kinds and their defaults, which the spec (StudentSpec) and the trainers (TrainConfig) share.

A leaf module (it imports nothing from synth_assets), so the spec validates a student section
without importing the training layer, which loads models and depends on inference.
"""

from __future__ import annotations

CAUSAL_LM_KIND = "causal_lm"
ENCODER_BASE_MODEL = "embedded:all-minilm-l6-v2"
CAUSAL_LM_BASE_MODEL = "embedded:smollm2-135m-instruct"
# TrainConfig fields only the causal-LM student reads; every one enters its checkpoint key.
CAUSAL_LM_FIELDS = ("finetune", "lora_r", "lora_alpha", "lora_dropout", "target_modules", "max_steps", "grad_accum")
