"""Logit distillation vs SFT for a causal-LM student on small sums (asserts nothing; prints a table).

Run: .venv/bin/python bench/bench_logit_kd.py [--quick] [--train 96] [--eval 56] [--steps 40] [--alpha 0.5]
     [--temperature 1.0] [--json PATH]
Teacher and student are both the embedded SmolLM2-135M-Instruct; the teacher is stronger only by its prompt:
it sees four solved examples before each question (few-shot), the student the bare question (context
distillation). The teacher answers every train question greedily through TransformersBackend with its top-5
tokens stored (`top_logprobs: 5`, as expansions.token_logprobs); answers that are wrong are dropped, as
synth's consistency filter drops them. On the same rows and the same LoRA settings:
  base       the untrained student, zero-shot
  teacher    the few-shot teacher on the eval questions
  sft        the student fine-tuned on the teacher's answers (cross-entropy)
  kd         the same, plus the token-level KL to the teacher's stored top-k (student.distill.logits)
Reported: exact-number accuracy on held-out sums, the final train loss (and KL for kd), the rows that
learned the teacher's distributions and the misaligned ones, seconds. `--quick` runs fewer rows and steps.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from synth_assets.answers import numbers_match
from synth_assets.inference.base import GenerationRequest, SamplingParams
from synth_assets.inference.transformers_backend import TransformersBackend
from synth_assets.student_kinds import CAUSAL_LM_BASE_MODEL
from synth_assets.training.base import TrainConfig
from synth_assets.training.causal_lm import predict, train_causal_lm

SHOTS = [(17, 25), (31, 46), (58, 27), (44, 39)]


def _question(a: int, b: int) -> str:
    return f"What is {a} + {b}? Answer with the number only."


def _teacher_prompt(a: int, b: int) -> str:
    """Four solved sums, then the question: the context the student does not get."""
    shots = "\n".join(f"Q: {_question(x, y)}\nA: {x + y}" for x, y in SHOTS)
    return f"{shots}\nQ: {_question(a, b)}\nA:"


def _sums(n: int, seed: int, avoid: set[tuple[int, int]]) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    out: list[tuple[int, int]] = []
    while len(out) < n:
        pair = (rng.randint(2, 9), rng.randint(2, 20))  # SmolLM2-135M few-shot gets about 4 in 10 of these right
        if pair not in avoid and pair not in out and pair not in SHOTS:
            out.append(pair)
    return out


def _teacher_answers(pairs: list[tuple[int, int]], top: int) -> list[tuple[str, list | None]]:
    """(answer text, stored token distributions) per question, from the few-shot teacher."""
    backend = TransformersBackend(model=CAUSAL_LM_BASE_MODEL, batch_size=16)
    params = SamplingParams(max_new_tokens=10, temperature=0.0, stop=("\n",), top_logprobs=top)
    results = backend.generate([GenerationRequest(messages=(("user", _teacher_prompt(a, b)),), params=params)
                                for a, b in pairs])
    return [((r.text or "").strip(), r.token_logprobs) for r in results]


def _accuracy(predictions: list[str], pairs: list[tuple[int, int]]) -> float:
    return sum(numbers_match(p, str(a + b)) for p, (a, b) in zip(predictions, pairs)) / len(pairs)


def run(args: argparse.Namespace) -> list[dict]:
    train_pairs = _sums(args.train, 1, set())
    eval_pairs = _sums(args.eval, 2, set(train_pairs))
    started = time.perf_counter()
    answers = _teacher_answers(train_pairs + eval_pairs, top=5)
    teacher_seconds = time.perf_counter() - started
    train_answers, eval_answers = answers[: len(train_pairs)], answers[len(train_pairs):]
    if not any(numbers_match(text, str(sum(p))) for p, (text, _) in zip(train_pairs, train_answers)):
        raise SystemExit("the teacher answered no train question right; raise --train")
    kept = [(p, text, top) for p, (text, top) in zip(train_pairs, train_answers) if numbers_match(text, str(sum(p)))]
    prompts = [_question(a, b) for (a, b), _, _ in kept]
    targets = [text for _, text, _ in kept]
    teacher_tokens = [json.dumps(top) if top else None for _, _, top in kept]
    rows = [
        {"model": "teacher", "accuracy": _accuracy([t for t, _ in eval_answers], eval_pairs), "n_eval": len(eval_pairs),
         "seconds": teacher_seconds, "kept_train_rows": len(kept), "train_rows": len(train_pairs)},
    ]
    eval_prompts = [_question(a, b) for a, b in eval_pairs]
    started = time.perf_counter()
    rows.append({"model": "base", "accuracy": _accuracy(predict(CAUSAL_LM_BASE_MODEL, eval_prompts, max_new_tokens=10),
                                                        eval_pairs), "n_eval": len(eval_pairs),
                 "seconds": time.perf_counter() - started})
    common = {"kind": "causal_lm", "max_steps": args.steps, "batch_size": 8, "max_length": 64, "learning_rate": 1e-3,
              "seed": 0, "temperature": args.temperature, "alpha": args.alpha}
    with_tokens = {"sft": None, "kd": teacher_tokens}
    for name, tokens in with_tokens.items():
        config = TrainConfig(logits=tokens is not None, **common)  # type: ignore[arg-type]
        out = Path(args.workdir) / name
        out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        report = train_causal_lm(prompts, targets, config, out, tokens)
        predictions = predict(out, eval_prompts, max_new_tokens=10)
        last = report.loss_curve[-1] if report.loss_curve else {}
        rows.append({"model": name, "accuracy": _accuracy(predictions, eval_pairs), "n_eval": len(eval_pairs),
                     "train_loss": report.train_loss, "final_ce": last.get("ce"), "final_kl": last.get("kl"),
                     "n_kd_rows": report.n_kd_rows, "n_kd_misaligned": report.n_kd_misaligned,
                     "seconds": time.perf_counter() - started, "loss_curve": report.loss_curve})
    return rows


def _table(rows: list[dict]) -> str:
    def fmt(v: object) -> str:
        return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    cols = ["model", "accuracy", "n_eval", "train_loss", "final_ce", "final_kl", "n_kd_rows", "n_kd_misaligned", "seconds"]
    lines = [" | ".join(cols), " | ".join("---" for _ in cols)]
    lines += [" | ".join(fmt(r.get(c)) for c in cols) for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="48 train, 48 eval questions, 16 steps (a few minutes on 2 cores)")
    parser.add_argument("--train", type=int, default=96)  # a + b with a in 2..9, b in 2..20: 152 questions in all
    parser.add_argument("--eval", type=int, default=56)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--json", type=Path, help="write the rows (with kd's and sft's loss curves) here")
    args = parser.parse_args()
    if args.quick:
        args.train, args.eval, args.steps = 48, 48, 16
    import tempfile

    with tempfile.TemporaryDirectory() as workdir:
        args.workdir = workdir
        rows = run(args)
    teacher = rows[0]
    print(f"teacher kept {teacher['kept_train_rows']}/{teacher['train_rows']} train answers (correct ones only)")
    print(_table(rows))
    if args.json:
        args.json.write_text(json.dumps({"args": {k: v for k, v in vars(args).items() if k not in ("json", "workdir")},
                                         "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
