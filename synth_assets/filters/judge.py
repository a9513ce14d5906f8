"""LLM-as-a-judge (Zheng et al., 2023; "Judging the Judges", Thakur et al., 2024): a rubric score 1-5 per row.

The judge (the pipeline's teacher unless `filters.judge.teacher` names another) rates every
candidate expansion; rows scoring under `min_score` are rejected (`low_judge_score`), and a reply
with no score in it is a `judge_error` row, never a crash. Calls go through the same row-level
cache as the teacher's. Because judges are often confidently wrong, the judge is measured first on
pairs whose correctness is known: each labelled seed with its true target and with a wrong one.
Cohen's kappa between "judge says acceptable" and "the pair is correct" is reported, and the
asset check warns when it is under `min_kappa`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from dataclasses import dataclass
from typing import Any

import polars as pl

from synth_assets.answers import extract_number, normalise_number
from synth_assets.filters.step import FilterInputs, FilterStep, Verdict, attach
from synth_assets.hashing import stable_hash
from synth_assets.inference.base import GenerationRequest, SamplingParams
from synth_assets.inference.budget import Budget, teacher_budget
from synth_assets.inference.runner import RunStats
from synth_assets.inference.session import TeacherSession
from synth_assets.spec import PipelineSpec
from synth_assets.templates import render

NAME, VERSION = "judge", "1"
TEMPLATE = (
    "You check training data for this task: {instruction}\n\nText: {input}\n\nProposed answer: {target}\n\n"
    "Is the proposed answer right for the text? Rate it from 1 (certainly wrong) to 5 (certainly right). "
    "Reply with the digit only."
)
MATH_TEMPLATE = (
    "You check solutions to math word problems.\n\nProblem: {input}\n\nProposed solution: {target}\n\n"
    "Is the proposed solution correct, with the right final answer? Rate it from 1 (certainly wrong) "
    "to 5 (certainly right). Reply with the digit only."
)
SCHEMA = {
    "row_id": pl.String, "kind": pl.String, "seed_id": pl.String, "strategy": pl.String, "input": pl.String,
    "target": pl.String, "correct": pl.Boolean, "judge_score": pl.Int64, "acceptable": pl.Boolean,
    "raw_output": pl.String, "error": pl.String, "judge_model": pl.String, "cache_key": pl.String,
    "cache_hit": pl.Boolean, "tokens_in": pl.Int64, "tokens_out": pl.Int64, "latency_ms": pl.Float64, "cost_usd": pl.Float64,
}
# the rubric's own "1 to 5" must not be read as a score
_RANGE = re.compile(r"\b1\s*(?:-|–|to|and)\s*5\b", re.I)
# a score is a lone digit: not part of 15, 2.5 or 3,000 (a sentence's full stop after it is fine)
_LABELLED = re.compile(r"(?:score|rating|rate|grade)\D{0,12}?([1-5])(?![\d,]|\.\d)", re.I)
_OUT_OF = re.compile(r"(?<![\d.,])([1-5])\s*(?:/|out of)\s*5\b", re.I)
# a bare digit counts only where the reply starts: elsewhere it is a number the judge is talking about
_LEADING = re.compile(r"^[^\w]*([1-5])(?![\d,]|\.\d)")


def parse_score(text: str | None) -> tuple[int | None, str | None]:
    """The 1-5 score a reply gives ('4', 'Rating: 4', '4/5', '{"score": 4}'), or why there is none.

    The prompt asks for the digit alone; small judges still wrap it in prose, so a labelled or
    'N out of 5' score anywhere counts, and a bare digit only at the start of the reply.
    """
    if not text or not text.strip():
        return None, "empty judge reply"
    cleaned = _RANGE.sub(" ", text)
    for pattern in (_LABELLED, _OUT_OF, _LEADING):
        match = pattern.search(cleaned)
        if match:
            return int(match.group(1)), None
    return None, "no score from 1 to 5 in the judge's reply"


def judge_request(spec: PipelineSpec, text: str, target: str) -> GenerationRequest:
    """The rubric prompt for one (input, target) pair; greedy, so a score is reproducible."""
    cfg = spec.filters.judge
    math = spec.task == "math"
    shown = target if math else spec.word_for(target)
    prompt = render(cfg.prompt or (MATH_TEMPLATE if math else TEMPLATE), instruction=spec.instruction, input=text, target=shown)
    params = SamplingParams(max_new_tokens=cfg.max_new_tokens, temperature=0.0, seed=spec.teacher.seed)
    return GenerationRequest(messages=(("user", prompt),), params=params)


def wrong_target(spec: PipelineSpec, seed_id: str, target: str) -> str:
    """A target known to be wrong for a seed: the next label, or the answer moved by 1-9 (by the seed's hash)."""
    if spec.task == "classification":
        return spec.labels[(spec.labels.index(target) + 1) % len(spec.labels)]
    shift = 1 + int(stable_hash(seed_id, length=8), 16) % 9
    return normalise_number(str(Decimal(extract_number(target) or "0") + shift)) or str(shift)


@dataclass(frozen=True)
class JudgeReport:
    """How far the judge can be trusted: its agreement with known answers, and what it left unscored."""

    n: int  # scored calibration pairs
    kappa: float | None
    percent_agreement: float | None
    calibration_pairs: int = 0
    unscored: int = 0
    min_score: int | None = None
    mean_score: float | None = None


def agreement(correct: list[bool], acceptable: list[bool]) -> dict[str, Any]:
    """Cohen's kappa and percent agreement between the judge's verdicts and the truth (None where undefined)."""
    if not correct:
        return {"n": 0, "kappa": None, "percent_agreement": None}
    from sklearn.metrics import cohen_kappa_score

    same = sum(c == a for c, a in zip(correct, acceptable))
    # kappa is undefined when both sides give one verdict throughout (sklearn would return nan)
    kappa = None if len(set(correct)) == 1 and len(set(acceptable)) == 1 else float(cohen_kappa_score(correct, acceptable))
    return {"n": len(correct), "kappa": kappa, "percent_agreement": same / len(correct)}


def judge_budget(spec: PipelineSpec, expansions: pl.DataFrame) -> Budget:
    """The dataset's teacher budget, priced for the judge's model, less what the expansions already spent."""
    budget = teacher_budget(spec, spec.filters.judge.teacher.model if spec.filters.judge.teacher else None)
    done = expansions.filter(pl.col("error").is_null())
    budget.precharge(done.height, float(done["cost_usd"].sum() or 0.0) if "cost_usd" in done.columns else 0.0)
    return budget


def _candidates(expansions: pl.DataFrame, seeds: pl.DataFrame) -> pl.DataFrame:
    """Rows that could become training data; teacher labels of labelled seeds only measure the teacher."""
    labelled = seeds.filter(pl.col("target").is_not_null())["seed_id"]
    measuring = (pl.col("strategy") == "label") & pl.col("seed_id").is_in(labelled.to_list())
    usable = pl.col("error").is_null() & pl.col("input").is_not_null() & pl.col("target").is_not_null()
    return expansions.filter(usable & ~measuring).select("row_id", "seed_id", "strategy", "input", "target")


def _calibration_pairs(spec: PipelineSpec, seeds: pl.DataFrame) -> pl.DataFrame:
    """The first `calibration_seeds` labelled seeds (by seed_id), each with its true and a wrong target."""
    labelled = seeds.filter(pl.col("target").is_not_null()).sort("seed_id").head(spec.filters.judge.calibration_seeds)
    rows = []
    for seed_id, text, target in labelled.select("seed_id", "input", "target").iter_rows():
        for correct, shown in ((True, target), (False, wrong_target(spec, seed_id, target))):
            rows.append({"row_id": stable_hash(seed_id, NAME, correct), "seed_id": seed_id, "strategy": None,
                         "input": text, "target": shown, "correct": correct})
    schema = {"row_id": pl.String, "seed_id": pl.String, "strategy": pl.String, "input": pl.String, "target": pl.String,
              "correct": pl.Boolean}
    return pl.DataFrame(rows, schema=schema)


def judge_rows(spec: PipelineSpec, expansions: pl.DataFrame, seeds: pl.DataFrame,
               judge: TeacherSession) -> tuple[pl.DataFrame, JudgeReport, RunStats]:
    """`judgements`: one row per judged expansion and calibration pair; plus the judge's agreement report.

    Calls past the judge's budget come back as errors, so their rows are `judge_error` until a later run pays for them.
    """
    cfg = spec.filters.judge
    todo = pl.concat([
        _candidates(expansions, seeds).with_columns(pl.lit("expansion").alias("kind"), pl.lit(None, pl.Boolean).alias("correct")),
        _calibration_pairs(spec, seeds).with_columns(pl.lit("calibration").alias("kind")),
    ], how="diagonal")
    calls = [judge.call(judge_request(spec, text, target), NAME, VERSION) for text, target in todo.select("input", "target").iter_rows()]
    results, stats = judge.run(calls)
    out = []
    for row, call in zip(todo.iter_rows(named=True), calls):
        result, hit = results[call.key]
        score, error = parse_score(result.text) if result.ok else (None, result.error)
        out.append({**row, "judge_score": score, "acceptable": None if score is None else score >= cfg.min_score,
                    "raw_output": result.text, "error": error, "judge_model": judge.model_id, "cache_key": call.key,
                    "cache_hit": hit, "tokens_in": result.tokens_in, "tokens_out": result.tokens_out,
                    "latency_ms": result.latency_ms, "cost_usd": judge.cost(result).cost_usd})
    df = pl.DataFrame(out, schema=SCHEMA)
    calibration = df.filter((pl.col("kind") == "calibration") & pl.col("acceptable").is_not_null())
    report = JudgeReport(
        **agreement(calibration["correct"].to_list(), calibration["acceptable"].to_list()),
        calibration_pairs=int((df["kind"] == "calibration").sum()),
        unscored=int(df["error"].is_not_null().sum()),
        min_score=cfg.min_score,
        mean_score=df.filter(pl.col("kind") == "expansion")["judge_score"].mean(),
    )
    return df, report, stats


def judge_verdicts(judgements: pl.DataFrame | None) -> pl.DataFrame:
    """What `filtered` joins by row_id: judge_score and judge_error of each judged expansion."""
    if judgements is None:
        return pl.DataFrame(schema={"row_id": pl.String, "judge_score": pl.Int64, "judge_error": pl.String})
    return judgements.filter(pl.col("kind") == "expansion").select("row_id", "judge_score", pl.col("error").alias("judge_error"))


def _run(df: pl.DataFrame, eligible: pl.Expr, inputs: FilterInputs) -> Verdict:
    df = attach(df, judge_verdicts(inputs.judgements))
    cfg = inputs.spec.filters.judge
    reason = (
        pl.when(pl.col("judge_error").is_not_null()).then(pl.lit("judge_error"))
        .when(pl.col("judge_score") < cfg.min_score).then(pl.lit("low_judge_score"))
    ) if cfg.enabled else pl.lit(None, pl.String)
    return Verdict(df, reason, reason.is_null())


JUDGE = FilterStep(
    name="judge", section="judge", run=_run, reasons=("judge_error", "low_judge_score"), needs=("judgements",),
    columns={"judge_score": pl.Int64, "judge_error": pl.String},
    switch=lambda filters: True,  # scores given with the judge off are still shown; only rejecting needs it on
)
