"""judgements: the LLM judge's 1-5 score per candidate expansion, and its measured agreement with the truth."""

from dataclasses import asdict

import polars as pl
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetExecutionContext, AssetIn, MetadataValue, asset

from synth_assets.assets.common import TABLE_KINDS, Build
from synth_assets.filters.judge import judge_budget, judge_rows
from synth_assets.hashing import stable_hash
from synth_assets.storage.lease import leased
from synth_assets.storage.outputs import table_output

CODE_VERSION = "1"
CHECK = "judge_agreement"


def _number(value: float | None) -> MetadataValue:
    return MetadataValue.null() if value is None else MetadataValue.float(float(value))


def build_judgements(b: Build, round_: int = 0) -> list:
    """The judgements asset (of round 0, or of round r's expansions) with its agreement check; nothing when the judge is off."""
    spec = b.spec
    cfg = spec.filters.judge
    if not cfg.enabled:
        return []
    # the judge's own settings, what it judges (task, labels, instruction) and who judges when it is the teacher
    shape = spec.section_hash("task", "instruction", "labels", "label_words", "budget", *(() if cfg.teacher else ("teacher",)))
    version = stable_hash(cfg.model_dump(mode="json", exclude_defaults=True), shape, length=12)
    key = b.key("judgements", round_)

    @asset(
        key=key,
        ins={"expansions": AssetIn(key=b.key("expansions", round_)), "seeds": AssetIn(key=b.key("seeds"))},
        required_resource_keys={b.judge_resource_key},
        check_specs=[AssetCheckSpec(CHECK, asset=key,
                                    description=f"The judge agrees with known labels: Cohen's kappa >= {cfg.min_kappa}")],
        group_name=b.group,
        kinds=TABLE_KINDS | {"teacher"},
        code_version=f"{CODE_VERSION}-{version}",
        description=(
            f"LLM-as-a-judge scores (1-5) for every candidate expansion{f' of round {round_}' if round_ else ''}, plus calibration pairs (labelled seeds with "
            "their true and a wrong target) that measure the judge: Cohen's kappa and percent agreement. "
            "Judge calls go through the teacher cache."
        ),
    )
    @leased(b.root)
    def judgements(context: AssetExecutionContext, expansions: pl.DataFrame, seeds: pl.DataFrame):
        judge = b.judge(context, judge_budget(spec, expansions))
        df, report, stats = judge_rows(spec, expansions, seeds, judge)
        context.log.info(f"judge: {stats.unique} calls, {stats.cache_hits} cached, kappa {report.kappa}")
        scores = df.filter(pl.col("kind") == "expansion").group_by("judge_score").len().sort("judge_score")
        yield table_output(
            df,
            judge_model=judge.model_id,
            judge_calls=stats.calls,
            cache_hits=stats.cache_hits,
            kappa=_number(report.kappa),
            percent_agreement=_number(report.percent_agreement),
            agreement=MetadataValue.json(asdict(report)),
            score_counts=MetadataValue.json({str(k): n for k, n in scores.iter_rows()}),
        )
        kappa = report.kappa
        yield AssetCheckResult(
            check_name=CHECK,
            passed=kappa is not None and kappa >= cfg.min_kappa,
            severity=AssetCheckSeverity.WARN,
            metadata={"kappa": _number(kappa), "min_kappa": _number(cfg.min_kappa), "pairs": report.n,
                      "percent_agreement": _number(report.percent_agreement)},
            description=("kappa undefined: no scored calibration pairs, or one verdict throughout" if kappa is None
                         else f"Cohen's kappa {kappa:.3f} on {report.n} known pairs"),
        )

    return [judgements]
