"""The teacher as every caller sees it: one handle holding the backend, its row cache, batching and the budget.

Built once per asset run from the pipeline's teacher resource (`Build.teacher(context)`), and handed
whole to strategies, votes, label checks, the judge and the eval measurement, which never see its
parts. Tests build one directly around a fake or scripted backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from synth_assets.inference.base import GenerationRequest, GenerationResult, TeacherBackend
from synth_assets.inference.budget import Budget
from synth_assets.inference.cache import TeacherCache, TeacherCall
from synth_assets.inference.runner import RunStats, run_calls

Results = dict[str, tuple[GenerationResult, bool]]  # cache key -> (result, served from the cache)


@dataclass(frozen=True)
class Cost:
    """What one or more calls cost: the ledger columns every table of teacher calls carries."""

    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    cost_usd: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.tokens_in + other.tokens_in, self.tokens_out + other.tokens_out,
                    self.latency_ms + other.latency_ms, self.cost_usd + other.cost_usd)


@dataclass
class TeacherSession:
    """One teacher for one run: every call goes through its cache and counts against its budget."""

    backend: TeacherBackend
    cache: TeacherCache
    batch_size: int = 16
    budget: Budget = field(default_factory=Budget)

    @property
    def model_id(self) -> str:
        return self.backend.model_id

    def call(self, request: GenerationRequest, name: str, version: str) -> TeacherCall:
        """The call for a request made by `name` at `version`: its cache key names this teacher's model."""
        return TeacherCall(request.cache_key(self.model_id, name, version), request, name, version)

    def run(self, calls: list[TeacherCall], probe: bool = True) -> tuple[Results, RunStats]:
        """Results by cache key; only misses reach the backend, within the budget (see run_calls)."""
        return run_calls(calls, self.backend, self.cache, self.batch_size, self.budget, probe=probe)

    def cost(self, *results: GenerationResult) -> Cost:
        """The ledger entry of these results, priced at this teacher's rate."""
        total = Cost()
        for r in results:
            total += Cost(r.tokens_in, r.tokens_out, r.latency_ms, self.budget.price.cost(r.tokens_in, r.tokens_out))
        return total

    def with_budget(self, budget: Budget) -> TeacherSession:
        """The same teacher counting against another budget (e.g. measuring it on eval rows, never capped)."""
        return replace(self, budget=budget)
