"""mixture_r<r>: round r's error budget split across slices of the labelled seeds by the teacher − student gap (DDK).

A slice is a value of `rounds.mixture.by` (the seed's label, or its seed file). On each slice the
teacher's accuracy is round 0's `teacher_correct` (the filters' measure of its labels of the labelled
seeds) and the student's is the previous round's synthetic-data student on the same seeds (what
student_errors_r found). Each slice gets

    share_s = (max(gap_s, 0) + λ) / Σ_t (max(gap_t, 0) + λ),   gap_s = teacher_accuracy_s − student_accuracy_s,

with λ = `rounds.mixture.smoothing` (> 0, so no slice drops to 0; a slice whose teacher was not measured
counts as gap 0). The round's `seeds_per_round` errors are split by largest remainder, so the counts add
up to exactly N; a slice takes its least sure errors first (lowest true_prob, then seed_id), and a share
that a slice has too few errors for goes to the slices that have more, in proportion to their shares.
Round r's expansions expand only the chosen errors.
"""

import math
from collections.abc import Mapping

import polars as pl
from dagster import AssetExecutionContext, AssetIn, MetadataValue, asset

from synth_assets.answers import is_correct
from synth_assets.assets.common import TABLE_KINDS, Build
from synth_assets.spec import PipelineSpec
from synth_assets.storage.lease import leased
from synth_assets.storage.outputs import preview_markdown, table_output
from synth_assets.storage.plots import image_markdown, metric_bars

MIXTURE_VERSION = "1"
SCHEMA = {"round": pl.Int64, "slice": pl.String, "n_labelled": pl.Int64, "teacher_accuracy": pl.Float64,
          "student_accuracy": pl.Float64, "gap": pl.Float64, "share": pl.Float64, "allocated": pl.Int64, "available": pl.Int64}


def gap_shares(gaps: Mapping[str, float | None], smoothing: float) -> dict[str, float]:
    """Each slice's share of the round: where the student trails the teacher most, plus a floor that keeps every slice."""
    weights = {s: max(g or 0.0, 0.0) + smoothing for s, g in gaps.items()}
    total = sum(weights.values())
    return {s: w / total for s, w in weights.items()}


def largest_remainder(shares: Mapping[str, float], n: int) -> dict[str, int]:
    """Whole counts in proportion to `shares` that add up to exactly n (ties go to the first slice by name)."""
    exact = {s: share * n for s, share in shares.items()}
    counts = {s: math.floor(x) for s, x in exact.items()}
    left = max(n - sum(counts.values()), 0)
    for s in sorted(exact, key=lambda s: (counts[s] - exact[s], s))[:left]:
        counts[s] += 1
    return counts


def allocate(shares: Mapping[str, float], available: Mapping[str, int], n: int) -> dict[str, int]:
    """Up to n errors split by share and capped by what each slice has; a slice's unused part goes to those with more."""
    taken = {s: 0 for s in shares}
    left = min(n, sum(available.get(s, 0) for s in shares))
    open_ = [s for s in shares if available.get(s, 0) > 0]
    while left > 0 and open_:
        total = sum(shares[s] for s in open_)
        quota = largest_remainder({s: shares[s] / total for s in open_}, left)
        for s in open_:
            give = min(quota[s], available[s] - taken[s])
            taken[s] += give
            left -= give
        open_ = [s for s in open_ if taken[s] < available[s]]  # each pass fills the budget or closes a slice
    return taken


def seed_slices(spec: PipelineSpec, seeds: pl.DataFrame) -> pl.DataFrame:
    """(seed_id, slice) of every labelled seed: its label or its seed file, as rounds.mixture.by says."""
    column = "target" if spec.rounds.mixture.by == "label" else "source_file"
    return seeds.filter(pl.col("target").is_not_null()).select("seed_id", pl.col(column).alias("slice"))


def pick_errors(student_errors: pl.DataFrame, slices: pl.DataFrame, allocated: Mapping[str, int]) -> pl.DataFrame:
    """The errors a round expands: each slice's allocated count, the ones the student is least sure of first."""
    quota = pl.DataFrame({"slice": list(allocated), "_quota": list(allocated.values())}, schema={"slice": pl.String, "_quota": pl.Int64})
    ranked = (student_errors.select("seed_id", "true_prob").join(slices, on="seed_id", how="inner")
              .sort(["true_prob", "seed_id"], nulls_last=True)
              .with_columns(pl.int_range(pl.len()).over("slice").alias("_rank"))
              .join(quota, on="slice", how="left"))
    chosen = ranked.filter(pl.col("_rank") < pl.col("_quota").fill_null(0))["seed_id"]
    return student_errors.filter(pl.col("seed_id").is_in(chosen.implode()))


def allocated_errors(spec: PipelineSpec, student_errors: pl.DataFrame, seeds: pl.DataFrame, mixture: pl.DataFrame) -> pl.DataFrame:
    """Round r's student errors as mixture_r<r> allocated them: what expansions_r expands."""
    return pick_errors(student_errors, seed_slices(spec, seeds), dict(zip(mixture["slice"], mixture["allocated"])))


def gap_table(spec: PipelineSpec, slices: pl.DataFrame, reference: pl.DataFrame, student_errors: pl.DataFrame) -> pl.DataFrame:
    """Per slice: labelled seeds, teacher and student accuracy on them, the gap and the errors available."""
    teacher = (reference.filter(pl.col("teacher_correct").is_not_null()).select("seed_id", "teacher_correct")
               .join(slices, on="seed_id").group_by("slice")
               .agg(pl.col("teacher_correct").cast(pl.Float64).mean().alias("teacher_accuracy")))
    wrong = [not is_correct(spec, p, t) for p, t in zip(student_errors["prediction"], student_errors["target"])]
    errors = (student_errors.select("seed_id", pl.Series("_wrong", wrong, dtype=pl.Boolean)).join(slices, on="seed_id")
              .group_by("slice").agg(pl.len().alias("available"), pl.col("_wrong").sum().alias("_wrong")))
    measured = student_errors.height > 0  # an empty student_errors_r is a stopped round: its accuracy is not known here
    return (slices.group_by("slice").agg(pl.len().alias("n_labelled"))
            .join(teacher, on="slice", how="left").join(errors, on="slice", how="left")
            .with_columns(pl.col("available").fill_null(0), pl.col("_wrong").fill_null(0))
            .with_columns(student_accuracy=(1 - pl.col("_wrong") / pl.col("n_labelled")) if measured else pl.lit(None, pl.Float64))
            .with_columns(gap=pl.col("teacher_accuracy") - pl.col("student_accuracy"))
            .drop("_wrong").sort("slice"))


def mixture_frame(spec: PipelineSpec, r: int, gaps: pl.DataFrame) -> pl.DataFrame:
    """The gap table with each slice's share and allocation (none when the round stopped: no errors to share)."""
    cfg = spec.rounds.mixture
    stopped = gaps["available"].sum() == 0
    shares = {} if stopped else gap_shares(dict(zip(gaps["slice"], gaps["gap"])), cfg.smoothing)
    taken = allocate(shares, dict(zip(gaps["slice"], gaps["available"])), cfg.seeds_per_round)
    return gaps.with_columns(
        pl.lit(r, pl.Int64).alias("round"),
        pl.col("slice").replace_strict(shares, default=None, return_dtype=pl.Float64).alias("share"),
        pl.col("slice").replace_strict(taken, default=0, return_dtype=pl.Int64).alias("allocated"),
    ).select(list(SCHEMA)).cast(SCHEMA)


def share_chart(df: pl.DataFrame, by: str, r: int) -> str:
    """Bars per slice: its share of the round beside the teacher's and the student's accuracy there."""
    scores = {s: {"share": share, "teacher_accuracy": t, "student_accuracy": st}
              for s, share, t, st in df.select("slice", "share", "teacher_accuracy", "student_accuracy").iter_rows()}
    return image_markdown(metric_bars(scores, f"round {r}: error budget share per {by}"), f"round {r} mixture shares")


def build_mixture(b: Build, r: int):
    """The round-r mixture asset (rounds.mixture): which of student_errors_r<r> the round expands."""
    spec = b.spec
    cfg = spec.rounds.mixture

    @asset(key=b.key("mixture", r), ins={"student_errors": AssetIn(key=b.key("student_errors", r)),
                                        "seeds": AssetIn(key=b.key("seeds")), "reference": AssetIn(key=b.key("filtered", 0))},
           group_name=b.group, kinds=TABLE_KINDS,
           code_version=f"{b.round_version(r)}-{MIXTURE_VERSION}-{spec.section_hash('labels', 'task')}",
           description=f"Round {r}: {cfg.seeds_per_round} student errors split across {cfg.by} slices by the teacher − student "
                       f"accuracy gap on the labelled seeds (DDK), smoothing {cfg.smoothing}.")
    @leased(b.root)
    def mixture(context: AssetExecutionContext, student_errors: pl.DataFrame, seeds: pl.DataFrame, reference: pl.DataFrame):
        df = mixture_frame(spec, r, gap_table(spec, seed_slices(spec, seeds), reference, student_errors))
        stopped = "" if student_errors.height else f"student_errors_r{r} is empty (the round stopped): nothing to allocate"
        quotas = largest_remainder(dict(zip(df["slice"], df["share"])), cfg.seeds_per_round) if not stopped else {}
        moved = sum(max(a - quotas.get(s, 0), 0) for s, a in zip(df["slice"], df["allocated"]))
        context.log.info(stopped or f"round {r}: {int(df['allocated'].sum())} of {student_errors.height} errors over "
                                    f"{df.height} {cfg.by} slices ({moved} moved from slices with too few errors)")
        return table_output(df, by=cfg.by, seeds_per_round=cfg.seeds_per_round, stopped=stopped,
                            allocated=int(df["allocated"].sum()), redistributed=moved,
                            shares=MetadataValue.md(preview_markdown(df.drop("round"), rows=50)),
                            share_chart=MetadataValue.md(share_chart(df, cfg.by, r)))

    return mixture
