"""Blocking check on every expansions table: after retries, at most `checks.max_error_rate` of the teacher calls failed.

Above that share the table is mostly holes, and nothing downstream should train on it: the run
fails, and the check's description gives the server's own error messages with their counts.
Replies that did not parse and calls the budget never sent are not call failures: the first are
the teacher's quality (the filters' business), the second the user's cap.
"""

from __future__ import annotations

import warnings

import polars as pl
from dagster import AssetCheckResult, AssetCheckSeverity, AssetChecksDefinition, MetadataValue, PreviewWarning, asset_check

from synth_assets.assets.common import Build
from synth_assets.assets.expansions import shard_partitions
from synth_assets.inference.errors import summarise_errors
from synth_assets.strategies.expand import call_failed, call_sent


def error_rate_result(expansions: pl.DataFrame, max_rate: float) -> AssetCheckResult:
    """An error (blocking) when the failed share of sent calls is above max_rate, a warning when some failed."""
    sent = expansions.filter(call_sent())
    failed = sent.filter(call_failed())
    rate = failed.height / sent.height if sent.height else 0.0
    summary = summarise_errors(failed["error"].to_list())
    passed = rate <= max_rate
    if not failed.height:
        description = f"all {sent.height} teacher calls answered"
    elif passed:
        description = (f"{failed.height} of {sent.height} teacher calls failed ({rate:.1%}), within "
                       f"checks.max_error_rate {max_rate:.0%}: {summary}")
    else:
        description = (f"{failed.height} of {sent.height} teacher calls failed ({rate:.1%}, above checks.max_error_rate "
                       f"{max_rate:.0%}): {summary}")
    # within the gate, failed calls still mark the table (a warning, which does not block): the user sees them
    return AssetCheckResult(
        passed=passed and not failed.height, severity=AssetCheckSeverity.WARN if passed and failed.height else AssetCheckSeverity.ERROR,
        description=description,
        metadata={"failed_calls": failed.height, "sent_calls": sent.height, "rate": MetadataValue.float(round(rate, 4)),
                  "errors": MetadataValue.json(dict(failed.group_by("error").len().sort("len", descending=True)
                                                    .head(10).iter_rows()))},
    )


def _check(b: Build, name: str) -> AssetChecksDefinition:
    max_rate = b.spec.checks.max_error_rate
    partitions = shard_partitions(b.spec.shards) if name == "expansions" else None

    def teacher_errors(context) -> AssetCheckResult:
        return error_rate_result(b.checked_table(context, name).select("error", "raw_output").collect(), max_rate)

    with warnings.catch_warnings():  # partitioned checks are a Dagster preview; the unsharded default does not use them
        warnings.simplefilter("ignore", PreviewWarning)
        return asset_check(asset=b.key(name), name="teacher_errors", blocking=True, partitions_def=partitions,
                           description=f"At most {max_rate:.0%} of the teacher calls failed after retries "
                                       "(spec: checks.max_error_rate); above it the run stops here.")(teacher_errors)


def build_error_rate_checks(b: Build) -> list[AssetChecksDefinition]:
    """One per expansions table: round 0's and each round's."""
    return [_check(b, name) for name in ["expansions", *(f"expansions_r{r}" for r in range(1, b.spec.rounds.max_rounds + 1))]]
