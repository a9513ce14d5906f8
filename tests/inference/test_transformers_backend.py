"""The transformers backend on the real embedded SmolLM2: batching, order, scoring and per-row errors."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from synth_assets.inference.base import GenerationRequest, GenerationResult, SamplingParams, TeacherBackend
from synth_assets.inference.shared_prefix import MIN_SHARED_PREFIX, batch_inputs
from synth_assets.inference.shared_prefix import shared_prefix as _shared_prefix
from synth_assets.inference.transformers_backend import TransformersBackend, _Row

MODEL = "embedded:smollm2-135m-instruct"


def ask(question: str, max_new_tokens: int = 8, **params: object) -> GenerationRequest:
    return GenerationRequest(messages=(("user", question),),
                             params=SamplingParams(max_new_tokens=max_new_tokens, **params))  # type: ignore[arg-type]


def choose(question: str, choices: tuple[str, ...]) -> GenerationRequest:
    return GenerationRequest(messages=(("user", question),), choices=choices)


@pytest.fixture(scope="module")
def backend() -> TransformersBackend:
    """One loaded model for the whole file: loading dominates a test otherwise."""
    b = TransformersBackend(MODEL, batch_size=8)
    b.load()
    return b


def test_import_does_not_import_torch() -> None:
    code = "import sys, synth_assets.inference.transformers_backend; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_model_id_names_a_dtype_other_than_float32(tmp_path) -> None:
    # bf16 moves scores and greedy text: a float32 cache must not answer a bf16 run, nor the reverse
    (tmp_path / "config.json").write_text("{}")
    plain = TransformersBackend(str(tmp_path), device="cpu").model_id
    assert TransformersBackend(str(tmp_path), device="cpu", dtype="float32").model_id == plain
    assert TransformersBackend(str(tmp_path), device="cpu", dtype="fp32").model_id == plain
    bf16 = TransformersBackend(str(tmp_path), device="cpu", dtype="bf16").model_id
    assert bf16 == f"{plain}/bfloat16" and TransformersBackend(str(tmp_path), device="cpu", dtype="bfloat16").model_id == bf16
    assert TransformersBackend(str(tmp_path), device="cuda").model_id == bf16  # auto on a GPU is bf16


def test_shared_prefix_is_the_common_head_leaving_each_row_a_token_of_its_own() -> None:
    head = list(range(100, 100 + MIN_SHARED_PREFIX + 4))
    assert _shared_prefix([head + [1, 2], head + [3], head + [1, 5, 6]]) == len(head)
    assert _shared_prefix([head + [1, 7], head + [1, 2]]) == len(head) + 1
    assert _shared_prefix([head, head]) == len(head) - 1  # identical prompts: the last token stays each row's own
    assert _shared_prefix([head + [1]]) == 0  # one row: nothing to share
    assert _shared_prefix([head[:MIN_SHARED_PREFIX - 1] + [1], head[:MIN_SHARED_PREFIX - 1] + [2]]) == 0  # too short


def test_failed_batch_is_retried_row_by_row() -> None:
    backend = TransformersBackend(MODEL, batch_size=4)  # never loaded: batching needs no model
    calls: list[list[int]] = []

    def run(chunk: list[_Row]) -> list[GenerationResult]:
        calls.append([row.index for row in chunk])
        if any(row.index == 2 for row in chunk):
            raise RuntimeError("poison row")
        return [GenerationResult(text=str(row.index)) for row in chunk]

    results: list[GenerationResult | None] = [None] * 6
    backend._run_batches([_Row(i, ask(str(i)), [1]) for i in range(6)], run, results)
    assert [r.text for r in results if r] == ["0", "1", None, "3", "4", "5"]
    assert results[2] is not None and results[2].error == "RuntimeError: poison row"
    assert calls == [[0, 1, 2, 3], [0], [1], [2], [3], [4, 5]]


@pytest.mark.slow
def test_generates_text_with_token_counts(backend: TransformersBackend) -> None:
    assert isinstance(backend, TeacherBackend)
    assert backend.model_id.startswith(MODEL + "@") and backend.model_id == TransformersBackend(MODEL).model_id
    out = backend.generate([ask("What is the capital of France?", 12)])
    assert out[0].ok and out[0].text and "Paris" in out[0].text
    assert out[0].tokens_in > 10 and 0 < out[0].tokens_out <= 12 and out[0].latency_ms > 0


@pytest.mark.slow
def test_greedy_and_seeded_sampling_repeat(backend: TransformersBackend) -> None:
    requests = [ask("Name a fruit.", 6), ask("Name a colour.", 6),
                ask("Tell me a story.", 6, temperature=0.9, seed=7), ask("Write a poem.", 6, temperature=0.9, seed=7)]
    first, second = backend.generate(requests), backend.generate(requests)
    assert [r.text for r in first] == [r.text for r in second]
    assert all(r.ok and r.text for r in first)


@pytest.mark.slow
def test_mixed_lengths_keep_order_and_match_running_alone(backend: TransformersBackend) -> None:
    # Left padding of the short prompts is where a batching bug would show: their text would change.
    requests = [ask("Hi!", 6), ask("Summarise this: " + "the quick brown fox jumps over the lazy dog. " * 12, 6),
                ask("Describe the city of Rome in " + "great " * 30 + "detail.", 6)]
    batched = backend.generate(requests)
    alone = [backend.generate([r])[0] for r in requests]
    assert [r.text for r in batched] == [r.text for r in alone]
    assert [r.tokens_in for r in batched] == [r.tokens_in for r in alone]
    assert batched[1].tokens_in > 3 * batched[0].tokens_in


@pytest.mark.slow
def test_choice_scoring_ranks_known_facts(backend: TransformersBackend) -> None:
    # SmolLM2-135M (from a Q4 GGUF) is at chance on yes/no questions: it prefers "No" for "Is fire hot?"
    # and "yes" for "Is ice hot?" alike. It does rank short factual answers, by a wide margin.
    requests = [choose("What is the capital of France?", ("London", "Paris")),
                choose("What color is the sky on a clear day? Answer with one word.", ("green", "blue")),
                ask("Hi!")]
    capital, sky, plain = backend.generate(requests)
    for row in (capital, sky):
        assert row.ok and row.choice_logprobs is not None and row.tokens_in > 0 and row.tokens_out == 0
        assert all(math.isfinite(v) and v < 0 for v in row.choice_logprobs.values())
        assert row.text == max(row.choice_logprobs, key=row.choice_logprobs.__getitem__)
    assert capital.text == "Paris" and capital.choice_logprobs["Paris"] > capital.choice_logprobs["London"] + 3
    assert sky.text == "blue"
    assert plain.ok and plain.choice_logprobs is None
    # Batched (left-padded) scores equal the scores of a row run alone.
    assert backend.generate([requests[0]])[0].choice_logprobs == pytest.approx(capital.choice_logprobs, abs=1e-3)


INSTRUCTION = ("Rewrite the following text in different words. Keep its meaning, its tone and its opinion. "
               "Reply with the rewritten text only.\n\nText: ")


@pytest.mark.slow
def test_a_shared_prompt_head_is_computed_once_and_changes_nothing(backend: TransformersBackend,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    texts = ["The tea was stale and tasted of cardboard.", "Best coffee I have had in years, smooth and rich!",
             "Arrived on time.", "My dog loves these treats, though they crumble a lot in the bag and leave dust."]
    greedy = [ask(INSTRUCTION + t, 10, top_logprobs=3) for t in texts]
    sampled = [ask(INSTRUCTION + t, 10, temperature=0.8, seed=3) for t in texts]
    scored = [choose(INSTRUCTION.replace("Rewrite", "Judge") + t + "\nGood or bad?", ("good", "bad")) for t in texts]
    prompts = [backend._prepare(i, r).prompt_ids for i, r in enumerate(greedy)]
    assert batch_inputs(backend._model, prompts, backend._pad_id)[3] >= 30  # the system turn and the instruction: the shared path is taken
    shared = backend.generate(greedy + sampled + scored)
    # the same batches with no head shared (a threshold no prompt reaches), and greedy rows run alone
    monkeypatch.setattr("synth_assets.inference.shared_prefix.MIN_SHARED_PREFIX", 10**9)
    assert batch_inputs(backend._model, prompts, backend._pad_id)[3] == 0
    unshared = backend.generate(greedy + sampled + scored)
    alone = [backend.generate([r])[0] for r in greedy]
    n = len(texts)
    assert [r.text for r in shared[:2 * n]] == [r.text for r in unshared[:2 * n]]
    assert [r.text for r in shared[:n]] == [r.text for r in alone]
    assert [r.tokens_in for r in shared] == [r.tokens_in for r in unshared]
    for b, a in zip(shared[:n], unshared[:n]):
        assert [t[0] for t in b.token_logprobs] == [t[0] for t in a.token_logprobs]
        assert [t[1] for t in b.token_logprobs] == pytest.approx([t[1] for t in a.token_logprobs], abs=1e-3)
    for b, a in zip(shared[2 * n:], unshared[2 * n:]):
        assert b.choice_logprobs == pytest.approx(a.choice_logprobs, abs=1e-3)


@pytest.mark.slow
def test_too_long_prompt_is_an_error_row(backend: TransformersBackend) -> None:
    huge = "word " * 20_000
    out = backend.generate([ask("Name a fruit."), ask(huge), choose(huge, ("a", "b")), choose("Is it?", ("yes", "no"))])
    assert [r.ok for r in out] == [True, False, False, True]
    assert out[1].text is None and "PromptTooLongError" in (out[1].error or "") and "8192" in (out[1].error or "")
    assert out[0].text and out[3].text in ("yes", "no")


@pytest.mark.slow
def test_invalid_rows_get_errors(backend: TransformersBackend) -> None:
    assert backend.generate([]) == []
    out = backend.generate([choose("Pick one.", ()), choose("Pick one.", ("", "x")), ask("Hi", 0),
                            ask("Hi", 4, temperature=1.0, top_p=0.0), ask("Hi", 4)])
    assert [r.ok for r in out] == [False, False, False, False, True]
    assert all(r.text is None and r.error for r in out[:4])


@pytest.mark.slow
def test_stop_strings_truncate(backend: TransformersBackend) -> None:
    question = "Count from 1 to 10, one number per line."
    full, stopped = backend.generate([ask(question, 16), ask(question, 16, stop=("3",))])
    assert full.text and "3" in full.text
    assert stopped.text == full.text[:full.text.index("3")]
    assert stopped.tokens_out < full.tokens_out


@pytest.mark.slow
def test_a_choice_of_several_tokens_is_scored_by_its_first_token(backend: TransformersBackend) -> None:
    # the rule of every backend (inference/label_words.py): no length penalty, one forward pass per prompt
    question = "What is the capital of Argentina? Answer with one word."
    assert [len(backend._tokenizer(w, add_special_tokens=False)["input_ids"]) for w in ("Paris", "Buenos Aires", "Bu")] == [1, 3, 1]
    whole, first = backend.generate([choose(question, ("Paris", "Buenos Aires")), choose(question, ("Paris", "Bu"))])
    assert whole.choice_logprobs and first.choice_logprobs
    assert whole.choice_logprobs["Buenos Aires"] == pytest.approx(first.choice_logprobs["Bu"], abs=1e-5)
    assert whole.choice_logprobs["Paris"] == pytest.approx(first.choice_logprobs["Paris"], abs=1e-5)


@pytest.mark.slow
def test_choices_sharing_a_first_token_are_an_error_row(backend: TransformersBackend) -> None:
    clash, fine = backend.generate([choose("Where to eat?", ("restaurant", "rest")), choose("Where to eat?", ("restaurant", "home"))])
    assert clash.text is None and clash.error is not None and clash.error.startswith("ChoiceCollisionError: choices 'restaurant' and 'rest'")
    assert fine.ok and fine.choice_logprobs is not None and set(fine.choice_logprobs) == {"restaurant", "home"}


@pytest.mark.slow
def test_top_logprobs_describe_each_generated_token(backend: TransformersBackend) -> None:
    plain, with_top = backend.generate([ask("Name three colours.", 10), ask("Name three colours.", 10, top_logprobs=5)])
    assert plain.token_logprobs is None
    assert with_top.text == plain.text  # asking for log-probs does not change greedy decoding
    entries = with_top.token_logprobs
    assert entries is not None and len(entries) == with_top.tokens_out
    for token, logprob, top in entries:
        assert len(top) == 5 and logprob <= 0
        values = [lp for _, lp in top]
        assert values == sorted(values, reverse=True)
        # greedy picks the most likely token, so the chosen token is the top-1 entry
        assert top[0][0] == token and math.isclose(top[0][1], logprob, abs_tol=1e-4)
    assert "".join(token for token, _, _ in entries).strip() == with_top.text.strip()
