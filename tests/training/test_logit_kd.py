"""Logit distillation of the causal-LM student: the bucketed top-k + tail target, alignment on the real SmolLM2
tokenizer, and a few real training steps whose KL falls while the cross-entropy path stays the SFT one."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Any

import pytest

from synth_assets.storage.checkpoints import checkpoint_key
from synth_assets.training.base import CAUSAL_LM_BASE_MODEL, TrainConfig
from synth_assets.training.causal_lm import fit
from synth_assets.training.logit_kd import (
    align_row,
    attach_teacher,
    bucket_kl,
    check_teacher_tokens,
    kd_tensors,
    teacher_buckets,
    token_index,
)
from synth_assets.training.sft_data import encode_pairs


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    from synth_assets.models.embedded import local_model_dir

    return AutoTokenizer.from_pretrained(local_model_dir(CAUSAL_LM_BASE_MODEL))


def test_top_k_keeps_its_probabilities_and_the_tail_gets_the_rest() -> None:
    # top-2 of 0.5 and 0.25: the other tokens hold 0.25 between them
    assert teacher_buckets([math.log(0.5), math.log(0.25)]) == pytest.approx([0.5, 0.25, 0.25])
    # at T = 2 every bucket is raised to 1/2 and renormalised: √.5, √.25, √.25 over their sum 1.7071
    assert teacher_buckets([math.log(0.5), math.log(0.25)], 2.0) == pytest.approx([0.41421, 0.29289, 0.29289], abs=1e-5)
    # rounded logprobs summing past 1 (0.6 + 0.5): renormalised over the top-k, no tail
    assert teacher_buckets([math.log(0.6), math.log(0.5)]) == pytest.approx([0.6 / 1.1, 0.5 / 1.1, 0.0])
    # a single sure token leaves nothing for the tail
    assert teacher_buckets([0.0]) == pytest.approx([1.0, 0.0])


def test_bucketed_kl_matches_the_hand_computed_value() -> None:
    import torch

    # student over a 4-token vocabulary: q = (.5, .25, .125, .125)
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.125, 0.125]]))
    teacher = torch.tensor([[0.5, 0.25, 0.25]])  # top-2 (ids below) plus the tail
    both = torch.tensor([[True, True]])
    # ids 0, 1: the student's buckets are (.5, .25, .125 + .125): the same distribution, KL 0
    assert bucket_kl(logits, torch.tensor([[0, 1]]), both, teacher, 1.0).item() == pytest.approx(0.0, abs=1e-6)
    # ids 1, 0: student buckets (.25, .5, .25); KL = .5 ln(.5/.25) + .25 ln(.25/.5) + .25 ln(.25/.25) = .25 ln 2
    assert bucket_kl(logits, torch.tensor([[1, 0]]), both, teacher, 1.0).item() == pytest.approx(0.25 * math.log(2))
    # a padded slot (repeating id 1, teacher prob 0) changes nothing: one sure token against q = .25 is ln 4
    one = bucket_kl(logits, torch.tensor([[1, 1]]), torch.tensor([[True, False]]), torch.tensor([[1.0, 0.0, 0.0]]), 1.0)
    assert one.item() == pytest.approx(math.log(4))
    # at T = 2 both sides' buckets are tempered alike, and the KL is scaled by T²
    p2 = torch.tensor([teacher_buckets([math.log(0.5), math.log(0.25)], 2.0)])
    q2 = [x**0.5 for x in (0.25, 0.5, 0.25)]
    q2 = [x / sum(q2) for x in q2]
    expected = 4 * sum(p * math.log(p / q) for p, q in zip(p2[0].tolist(), q2))
    assert bucket_kl(logits, torch.tensor([[1, 0]]), both, p2, 2.0).item() == pytest.approx(expected, rel=1e-5)


def _entries(tokenizer: Any, ids: list[int], alternatives: int = 2) -> list[list[Any]]:
    """The backends' token_logprobs shape for these ids: the token at .6, two real alternatives at .2 and .1."""
    out = []
    for t in ids:
        others = [j for j in (t + 1, t + 2, t + 3) if j < len(tokenizer)][:alternatives]
        top = [[tokenizer.decode([t]), math.log(0.6)]] + [[tokenizer.decode([j]), math.log(p)] for j, p in zip(others, (0.2, 0.1))]
        out.append([tokenizer.decode([t]), math.log(0.6), top])
    return out


def test_token_index_maps_decoded_texts_back_and_leaves_ambiguous_ones_out(tokenizer: Any) -> None:
    index = token_index(tokenizer)
    ids = list(tokenizer(" Sarah had 51 trucks.", add_special_tokens=False)["input_ids"])
    assert [index[tokenizer.decode([t])] for t in ids] == ids
    # partial UTF-8 bytes all decode to the replacement character: no single id to map it to
    assert "\ufffd" not in index


def test_a_target_inside_the_teachers_tokens_aligns_and_others_fall_back(tokenizer: Any) -> None:
    index = token_index(tokenizer)
    solution = "Add them: 13 + 38 = 51.\n#### 51"
    target = list(tokenizer(solution, add_special_tokens=False)["input_ids"])
    # the teacher kept talking after its answer line: the target is a prefix of what it generated
    generated = list(tokenizer(solution + "\nI hope this helps!", add_special_tokens=False)["input_ids"])
    aligned = align_row(target, _entries(tokenizer, generated), index, 1.0)
    assert aligned is not None
    ids, probs = aligned
    assert [i[0] for i in ids] == target and all(len(p) == len(i) + 1 for i, p in zip(ids, probs))
    assert probs[0] == pytest.approx([0.6, 0.2, 0.1, 0.1])  # the stored top-3, the tail holds the last 0.1
    # the sampled token outside the top-k joins the buckets with its own logprob
    sampled = _entries(tokenizer, target)
    sampled[0] = [sampled[0][0], math.log(0.05), sampled[0][2][1:]]
    ids, probs = align_row(target, sampled, index, 1.0) or ((), ())
    assert ids[0][-1] == target[0] and probs[0] == pytest.approx([0.2, 0.1, 0.05, 0.65])
    # a top-k text that names no single token is left out: its 0.2 joins the tail
    unknown = _entries(tokenizer, target)
    unknown[0][2][1][0] = "\ufffd"
    assert (align_row(target, unknown, index, 1.0) or ((), ()))[1][0] == pytest.approx([0.6, 0.1, 0.3])
    # the same text cut into other tokens than the student's tokenizer makes of it does not line up
    word = tokenizer.decode([target[0]])  # "Add"
    letters = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in word]
    split = [ids[0] for ids in letters] + target[1:]
    assert len(word) > 1 and all(len(ids) == 1 for ids in letters) and tokenizer.decode(split) == solution
    assert align_row(target, _entries(tokenizer, split), index, 1.0) is None


def test_attach_teacher_counts_aligned_misaligned_and_plain_rows(tokenizer: Any) -> None:
    prompts = ["What is 13 + 38?", "What is 2 + 2?", "What is 5 + 5?", "What is 1 + 1?"]
    targets = ["13 + 38 = 51.\n#### 51", "2 + 2 = 4.\n#### 4", "5 + 5 = 10.\n#### 10", "#### 2"]
    data = encode_pairs(tokenizer, prompts, targets, max_length=128)
    good = json.dumps(_entries(tokenizer, list(tokenizer(targets[0], add_special_tokens=False)["input_ids"])))
    other = json.dumps(_entries(tokenizer, list(tokenizer("Something else entirely.", add_special_tokens=False)["input_ids"])))
    result = attach_teacher(tokenizer, data, [good, other, "not json", None], temperature=1.0)
    assert (result.n_kd_rows, result.n_misaligned) == (1, 2)  # the seed-like row without tokens is neither
    assert result.n_kd_tokens == len(tokenizer(targets[0], add_special_tokens=False)["input_ids"])
    with_teacher = [e.teacher is not None for e in result.data.examples]
    assert with_teacher == [True, False, False, False]
    # each aligned token's logits column is the one before it, and it predicts exactly that token
    kd = kd_tensors(result.data.examples)
    example = result.data.examples[0]
    assert kd["rows"].tolist() == [0] * result.n_kd_tokens
    assert [example.input_ids[c + 1] for c in kd["cols"].tolist()] == example.labels[-1 - result.n_kd_tokens:-1]


def test_checkpoint_keys_include_logits_only_when_on() -> None:
    sft = TrainConfig(kind="causal_lm", max_steps=2)
    kd = TrainConfig(kind="causal_lm", max_steps=2, logits=True, alpha=0.7)
    # off, the key is the SFT key as it was before the field existed: no distillation settings in it
    assert not {"logits", "temperature", "alpha", "soft_labels"} & set(sft.as_dict())
    assert kd.as_dict()["logits"] is True and kd.as_dict()["alpha"] == 0.7
    assert checkpoint_key("v", sft.as_dict(), sft.base_model) != checkpoint_key("v", kd.as_dict(), kd.base_model)
    # a soft-label classifier key is unchanged by the new field
    assert "logits" not in TrainConfig(kind="tfidf_logreg", soft_labels=True).as_dict()


def test_teacher_tokens_and_the_logits_setting_go_together() -> None:
    with pytest.raises(ValueError, match="TrainConfig.logits"):
        check_teacher_tokens(True, 2, None)
    with pytest.raises(ValueError, match="TrainConfig.logits"):
        check_teacher_tokens(False, 2, [None, None])
    with pytest.raises(ValueError, match="2 prompts but 1 teacher_tokens"):
        check_teacher_tokens(True, 2, [None])


PROMPTS = ["What is 13 + 38?", "What is 20 + 22?", "What is 7 + 8?", "What is 30 + 6?"]
SOLUTIONS = ["13 + 38 = 51.\n#### 51", "20 + 22 = 42.\n#### 42", "7 + 8 = 15.\n#### 15", "30 + 6 = 36.\n#### 36"]


def _teacher_tokens(tokenizer: Any) -> list[str | None]:
    """Stored distributions for the first three rows; the last is a seed (no teacher)."""
    return [json.dumps(_entries(tokenizer, list(tokenizer(t, add_special_tokens=False)["input_ids"])))
            for t in SOLUTIONS[:3]] + [None]


@pytest.mark.slow
def test_kd_training_lowers_the_kl_and_reports_its_curve(tokenizer: Any) -> None:
    # about 40 s on 2 idle CPU cores: 8 LoRA steps on 4 short rows (3 model loads)
    common = {"kind": "causal_lm", "batch_size": 4, "max_length": 64, "learning_rate": 2e-3, "warmup_ratio": 0.0,
              "lora_dropout": 0.0}
    teacher = _teacher_tokens(tokenizer)
    report = fit(PROMPTS, SOLUTIONS, TrainConfig(logits=True, alpha=0.5, max_steps=4, **common), teacher)[2]  # type: ignore[arg-type]
    assert (report.n_kd_rows, report.n_kd_misaligned) == (3, 0)
    curve = report.loss_curve
    assert [p["step"] for p in curve] == [1, 2, 3, 4] and all(p["kl"] is not None for p in curve)
    assert curve[-1]["kl"] < curve[0]["kl"] and curve[-1]["loss"] < curve[0]["loss"]
    # the total mixes the two: it is neither the CE nor the KL alone
    assert curve[0]["loss"] != pytest.approx(curve[0]["ce"]) and curve[0]["kl"] != pytest.approx(curve[0]["ce"])
    assert "loss_curve" in asdict(report) and asdict(report)["n_kd_rows"] == 3  # what the checkpoint manifest stores

    # alpha 0: the KD path's own cross-entropy is the model's SFT loss, up to float noise (its forward pass
    # runs without labels, so the logits take another kernel path; measured 1e-4 relative)
    sft = fit(PROMPTS, SOLUTIONS, TrainConfig(max_steps=2, **common))[2]  # type: ignore[arg-type]
    ce_only = fit(PROMPTS, SOLUTIONS, TrainConfig(logits=True, alpha=0.0, max_steps=2, **common), teacher)[2]  # type: ignore[arg-type]
    assert [p["loss"] for p in ce_only.loss_curve] == pytest.approx([p["loss"] for p in sft.loss_curve], rel=2e-3)
    # while alpha 0.5 started from the same model and the same CE, its loss is a different number
    assert curve[0]["ce"] == pytest.approx(sft.loss_curve[0]["ce"], rel=2e-3)
    assert curve[0]["loss"] != pytest.approx(sft.loss_curve[0]["loss"], rel=1e-2)
    assert all(p["kl"] is None for p in sft.loss_curve) and sft.n_kd_rows == 0
