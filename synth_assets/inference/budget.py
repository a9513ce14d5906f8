"""The teacher budget: what a call costs, and when to stop making new ones.

A call's price comes from the spec's per-model price table (USD per million tokens; local
models default to 0, their engine seconds are recorded instead). The cap covers the whole
dataset: calls served from the cache were paid for once and count too, so re-running a
pipeline never spends past the cap. New calls are admitted batch by batch only while their
worst case (prompt tokens estimated from characters, the full max_new_tokens reply) fits in
what is left; the rest become rows whose error says they were skipped, and a later run with a
higher cap makes exactly those calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from synth_assets.inference.base import GenerationResult
from synth_assets.inference.cache import TeacherCall
from synth_assets.spec import PipelineSpec

SKIPPED = "skipped: teacher budget reached"
# Tokenizers average ~4 characters per token on English; 3 over-estimates, so the cap holds.
_CHARS_PER_TOKEN = 3


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens."""

    input_per_million: float = 0.0
    output_per_million: float = 0.0

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input_per_million + tokens_out * self.output_per_million) / 1e6


@dataclass
class Budget:
    """Spend so far against optional caps on USD and on the number of teacher calls."""

    price: Price = Price()
    max_usd: float | None = None
    max_calls: int | None = None
    spent_usd: float = 0.0
    calls: int = 0

    def precharge(self, calls: int, usd: float) -> None:
        """Count what earlier tables of the same dataset (earlier rounds) already spent."""
        self.calls += calls
        self.spent_usd += usd

    def charge(self, result: GenerationResult) -> float:
        """Count one finished call (cached or new) and return its cost."""
        cost = self.price.cost(result.tokens_in, result.tokens_out)
        self.spent_usd += cost
        self.calls += 1
        return cost

    def admit(self, calls: list[TeacherCall]) -> int:
        """How many of these calls may run now without risking the caps."""
        allowed = len(calls)
        if self.max_calls is not None:
            allowed = min(allowed, max(0, self.max_calls - self.calls))
        if self.max_usd is not None:
            left, n = self.max_usd - self.spent_usd, 0
            for call in calls[:allowed]:
                left -= self._worst_case(call)
                if left < 0:
                    break
                n += 1
            allowed = n
        return allowed

    def _worst_case(self, call: TeacherCall) -> float:
        prompt_chars = sum(len(content) for _, content in call.request.messages)
        reply = 1 if call.request.choices is not None else call.request.params.max_new_tokens
        return self.price.cost(prompt_chars // _CHARS_PER_TOKEN + 1, reply)

    @property
    def limited(self) -> bool:
        return self.max_usd is not None or self.max_calls is not None


def teacher_budget(spec: PipelineSpec, model: str | None = None) -> Budget:
    """A fresh spend counter for one materialisation: the spec's caps, priced for `model` (default: the teacher)."""
    price = spec.budget.prices.get(model or spec.teacher.model)
    return Budget(Price(price.input_per_million, price.output_per_million) if price else Price(),
                  spec.budget.max_usd, spec.budget.max_calls)


def skipped() -> GenerationResult:
    """The row of a call the budget did not allow: an error row, never cached, made by a later run."""
    return GenerationResult(text=None, error=SKIPPED)
