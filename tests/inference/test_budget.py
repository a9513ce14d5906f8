"""The teacher budget caps what a dataset costs; skipped calls are error rows a later run makes."""

from __future__ import annotations

from pathlib import Path

from synth_assets.inference.base import GenerationRequest, GenerationResult, SamplingParams
from synth_assets.inference.budget import SKIPPED, Budget, Price
from synth_assets.inference.cache import TeacherCache, TeacherCall
from synth_assets.inference.fake_backend import FakeBackend
from synth_assets.inference.runner import run_calls


def _calls(n: int, max_new_tokens: int = 8) -> list[TeacherCall]:
    calls = []
    for i in range(n):
        req = GenerationRequest(messages=(("user", f"rewrite row number {i} please"),),
                                params=SamplingParams(max_new_tokens=max_new_tokens))
        calls.append(TeacherCall(req.cache_key("m", "s", "1"), req, "s", "1"))
    return calls


def _made(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_call_cap_skips_the_rest_and_a_higher_cap_makes_exactly_those(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    backend, cache, calls = FakeBackend(call_log=str(log)), TeacherCache(tmp_path), _calls(10)
    out, stats = run_calls(calls, backend, cache, batch_size=3, budget=Budget(max_calls=4))
    assert _made(log) == 4 and stats.calls == 4 and stats.skipped == 6
    skipped = [c.key for c in calls if out[c.key][0].error == SKIPPED]
    assert len(skipped) == 6 and all(out[c.key][0].ok for c in calls if c.key not in skipped)
    # the same cap again: the 4 cached calls use it up, nothing new is made
    _, again = run_calls(calls, backend, cache, batch_size=3, budget=Budget(max_calls=4))
    assert _made(log) == 4 and again.cache_hits == 4 and again.skipped == 6
    # a higher cap makes exactly the skipped calls: they were never cached
    out3, third = run_calls(calls, backend, cache, batch_size=3, budget=Budget(max_calls=10))
    assert _made(log) == 10 and third.calls == 6 and third.skipped == 0
    assert all(out3[c.key][0].ok for c in calls)


def test_usd_cap_is_never_exceeded(tmp_path: Path) -> None:
    price = Price(input_per_million=1000.0, output_per_million=2000.0)  # 1 and 2 milli-USD per token
    budget = Budget(price=price, max_usd=0.1)
    out, stats = run_calls(_calls(20), FakeBackend(), TeacherCache(tmp_path), batch_size=4, budget=budget)
    made = [r for r, _ in out.values() if r.ok]
    spent = sum(price.cost(r.tokens_in, r.tokens_out) for r in made)
    assert 0 < len(made) < 20 and stats.skipped == 20 - len(made)
    assert spent <= 0.1 and abs(budget.spent_usd - spent) < 1e-12


def test_cost_is_charged_for_cached_and_new_calls() -> None:
    budget = Budget(price=Price(input_per_million=2.0, output_per_million=4.0))
    assert budget.charge(GenerationResult(text="x", tokens_in=1_000_000, tokens_out=500_000)) == 4.0
    assert budget.calls == 1 and budget.spent_usd == 4.0 and not budget.limited
    assert Budget(max_calls=1).limited and Budget(max_calls=3, calls=3).admit(_calls(2)) == 0
