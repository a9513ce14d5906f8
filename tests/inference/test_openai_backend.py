"""OpenAIBackend against real loopback servers (tests/inference/openai_server.py): no model, seconds."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest
from openai_server import Fleet

from synth_assets.inference.base import GenerationRequest, SamplingParams, TeacherBackend
from synth_assets.inference.openai_backend import APIKeyMissingError, OpenAIBackend
from synth_assets.inference.openai_wire import NO_LOGPROBS, score_choices

KEY_ENV = "SYNTH_TEST_OPENAI_KEY"
KEY = "sk-test-SECRET-0123456789"


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    f = Fleet(n=1)
    yield f
    f.close()


@pytest.fixture
def pair() -> Iterator[Fleet]:
    f = Fleet(n=2)
    yield f
    f.close()


def backend(urls: list[str], **kwargs) -> OpenAIBackend:
    """Fast retries for tests: the behaviour is the same, the waits are milliseconds."""
    settings = {"timeout_s": 5.0, "max_retries": 3, "backoff_base_s": 0.005, "backoff_max_s": 0.05, **kwargs}
    return OpenAIBackend("teacher-7b", urls, **settings)


def ask(prompt: str, **kwargs) -> GenerationRequest:
    return GenerationRequest(messages=(("system", "be brief"), ("user", prompt)), **kwargs)


def test_is_a_teacher_backend_and_model_id_ignores_the_pool(fleet: Fleet, pair: Fleet) -> None:
    one, two = backend(fleet.urls), backend(pair.urls)
    assert isinstance(one, TeacherBackend)
    assert one.model_id == two.model_id == "openai:teacher-7b"
    assert one.generate([]) == []


def test_generates_in_order_with_usage_and_sampling_params(fleet: Fleet) -> None:
    params = SamplingParams(max_new_tokens=12, temperature=0.7, top_p=0.9, seed=3, stop=("\n",))
    prompts = [f"hello number {i}" for i in range(6)]
    results = backend(fleet.urls).generate([ask(p, params=params) for p in prompts])
    assert [r.text for r in results] == [p[::-1] for p in prompts]
    assert all(r.ok and r.tokens_in == 5 and r.tokens_out == 3 and r.latency_ms > 0 for r in results)
    # requests run concurrently: find the first prompt's request rather than the first one recorded
    body = next(r.body for r in fleet.records if r.body["messages"][-1]["content"] == prompts[0])
    assert body["model"] == "teacher-7b" and body["n"] == 1
    assert body["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": prompts[0]}]
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["seed"], body["stop"]) == (12, 0.7, 0.9, 3, ["\n"])
    assert "logprobs" not in body


def test_mixed_batch_loses_and_duplicates_nothing(pair: Fleet) -> None:
    prompts = [f"row {i}" + ("[500x1]" if i % 5 == 1 else "[429x1]" if i % 5 == 2 else "[400]" if i % 5 == 3 else "")
               for i in range(30)]
    results = backend(pair.urls, concurrency=4).generate([ask(p) for p in prompts])
    assert len(results) == len(prompts)
    for prompt, result in zip(prompts, results):
        if "[400]" in prompt:
            assert result.text is None and "HTTP 400" in result.error
            assert pair.completed[prompt] == 0
        else:
            assert result.ok and result.text == prompt[::-1], result.error
            assert pair.completed[prompt] == 1  # exactly one successful completion per row


def test_retry_after_is_honoured() -> None:
    fleet = Fleet(n=1, retry_after="0.3")
    try:
        start = time.monotonic()
        [result] = backend(fleet.urls, backoff_max_s=1.0).generate([ask("busy [429x1]")])
        elapsed = time.monotonic() - start
    finally:
        fleet.close()
    first, second = fleet.attempts("busy [429x1]")
    assert result.ok and result.text == "]1x924[ ysub"
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 0.3 and elapsed >= 0.3  # the jittered backoff alone is <= 5 ms here


def test_retry_after_is_capped_at_backoff_max() -> None:
    fleet = Fleet(n=1, retry_after="30")
    try:
        start = time.monotonic()
        [result] = backend(fleet.urls, backoff_max_s=0.05).generate([ask("very busy [429x2]")])
        elapsed = time.monotonic() - start
    finally:
        fleet.close()
    assert result.ok and len(fleet.attempts("very busy [429x2]")) == 3
    assert elapsed < 5


def test_server_errors_are_retried_until_they_pass_or_the_budget_runs_out(fleet: Fleet) -> None:
    flaky, broken = "flaky [500x2]", "broken [500]"
    ok, failed = backend(fleet.urls, max_retries=3).generate([ask(flaky), ask(broken)])
    assert ok.ok and ok.text == flaky[::-1] and len(fleet.attempts(flaky)) == 3
    assert failed.text is None and "gave up after 4 attempts" in failed.error and "HTTP 500" in failed.error
    assert len(fleet.attempts(broken)) == 4


def test_client_errors_are_not_retried_and_the_key_is_redacted(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    b = backend(fleet.urls, api_key_env=KEY_ENV)
    good, bad = b.generate([ask("fine"), ask("rejected [400]")])
    assert len(fleet.attempts("rejected [400]")) == 1
    assert bad.text is None and "HTTP 400" in bad.error and "not retried" in bad.error
    assert "[redacted]" in bad.error  # the server echoed the header; the client scrubbed it
    assert {r.headers["Authorization"] for r in fleet.records} == {f"Bearer {KEY}"}
    for result in (good, bad):
        assert KEY not in (result.text or "") and KEY not in (result.error or "")
    assert KEY not in repr(b) and KEY not in repr(vars(b))


def test_missing_api_key_is_a_clear_error(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(APIKeyMissingError, match=KEY_ENV):
        backend(fleet.urls, api_key_env=KEY_ENV).generate([ask("x")])
    assert fleet.records == []


def test_no_key_sends_no_authorization_header(fleet: Fleet) -> None:
    backend(fleet.urls).generate([ask("anon")])
    assert "Authorization" not in fleet.records[0].headers


def test_timeouts_are_retried_then_reported() -> None:
    fleet = Fleet(n=1, slow_s=0.6)
    try:
        slow_once, slow = backend(fleet.urls, timeout_s=0.2, max_retries=2).generate(
            [ask("late [slowx1]"), ask("stuck [slow]")])
    finally:
        fleet.close()
    assert slow_once.ok and slow_once.text == "]1xwols[ etal" and len(fleet.attempts("late [slowx1]")) == 2
    assert slow.text is None and "gave up after 3 attempts" in slow.error and "within 0.2 s" in slow.error
    assert len(fleet.attempts("stuck [slow]")) == 3


def test_malformed_replies_are_retried_once(fleet: Fleet) -> None:
    once, always = backend(fleet.urls, max_retries=5).generate([ask("glitch [malformedx1]"), ask("bad [malformed]")])
    assert once.ok and once.text == "]1xdemroflam[ hctilg"
    assert always.text is None and "malformed response twice" in always.error
    assert len(fleet.attempts("bad [malformed]")) == 2


def test_concurrency_bound_is_respected() -> None:
    fleet = Fleet(n=1, delay_s=0.05)
    try:
        results = backend(fleet.urls, concurrency=3).generate([ask(f"p{i}") for i in range(18)])
    finally:
        fleet.close()
    assert all(r.ok for r in results)
    assert 2 <= fleet.max_in_flight <= 3  # it ran concurrently, and never past the bound


def test_round_robin_spreads_rows_and_moves_retries_to_the_next_server(pair: Fleet) -> None:
    backend(pair.urls).generate([ask(f"spread {i}") for i in range(10)])
    per_server = [sum(r.server == s for r in pair.records) for s in (0, 1)]
    assert per_server == [5, 5]
    backend(pair.urls).generate([ask("hop [500x1]")])
    first, second = pair.attempts("hop [500x1]")
    assert (first.server, first.status) == (0, 500) and (second.server, second.status) == (1, 200)


def test_a_dead_server_in_the_pool_costs_a_retry_not_rows(fleet: Fleet) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    results = backend([dead, *fleet.urls]).generate([ask(f"q{i}") for i in range(6)])
    assert [r.text for r in results] == [f"q{i}"[::-1] for i in range(6)]
    assert all(r.ok for r in results) and len(fleet.records) == 6


def test_choice_scoring_maps_top_logprobs_to_choices(fleet: Fleet) -> None:
    choices = ("yes", "no", "positive", "neutral")
    [result] = backend(fleet.urls).generate([ask("enthusiastic?", choices=choices)])
    assert result.ok and result.text == "yes"
    # " yes" and "Yes" both match yes (best kept); "pos" prefixes positive; " " matches nothing;
    # neutral gets the floor: lowest top logprob (-3.0) minus 1.
    assert result.choice_logprobs == {"yes": -0.2, "no": -1.5, "positive": -2.0, "neutral": -4.0}
    body = fleet.records[0].body
    assert (body["logprobs"], body["top_logprobs"], body["max_tokens"]) == (True, 20, 1)


def test_top_logprobs_are_asked_for_and_kept_per_token(fleet: Fleet) -> None:
    plain, with_top, missing = backend(fleet.urls).generate([
        ask("abc"), ask("xyz", params=SamplingParams(top_logprobs=3)),
        ask("[nologprobs] q", params=SamplingParams(top_logprobs=3))])
    assert plain.ok and plain.token_logprobs is None
    assert with_top.ok and with_top.text == "zyx"
    assert with_top.token_logprobs == [[c, -0.5, [[c, -0.5], ["alt0", -1.0], ["alt1", -2.0]]] for c in "zyx"]
    body = next(r.body for r in fleet.records if r.body["messages"][-1]["content"] == "xyz")
    assert body["logprobs"] is True and body["top_logprobs"] == 3
    assert "logprobs" not in next(r.body for r in fleet.records if r.body["messages"][-1]["content"] == "abc")
    assert not missing.ok and "no logprobs" in (missing.error or "")


def test_choice_scoring_without_logprobs_is_an_error_row(fleet: Fleet) -> None:
    bare, empty = backend(fleet.urls).generate([ask("plain [nologprobs]", choices=("yes", "no")),
                                               ask("x", choices=())])
    assert bare.text is None and bare.error == NO_LOGPROBS and len(fleet.attempts("plain [nologprobs]")) == 1
    assert empty.text is None and "empty" in empty.error


def test_choices_one_of_which_begins_another_are_an_error_row_without_a_call(fleet: Fleet) -> None:
    clash, fine = backend(fleet.urls).generate([ask("where to eat?", choices=("rest", "Restaurant")),
                                               ask("is it good?", choices=("yes", "no"))])
    assert clash.text is None and clash.error is not None and clash.error.startswith("choices 'rest' and 'Restaurant' cannot be told apart")
    assert fine.ok and fleet.attempts("where to eat?") == []


def test_score_choices_ties_and_floor() -> None:
    scores = score_choices(("Negative", "neutral"), [("ne", -0.5), ("Neg", -0.7), ("x", -2.0)])
    assert scores == {"Negative": -0.5, "neutral": -0.5}  # both start with "ne": first-token scoring ties
    assert score_choices(("a",), [("b", -1.0)]) == {"a": -2.0}


def test_generate_works_inside_a_running_event_loop(fleet: Fleet) -> None:
    async def caller() -> list[str | None]:
        return [r.text for r in backend(fleet.urls).generate([ask("abc"), ask("de")])]

    assert asyncio.run(caller()) == ["cba", "ed"]
