"""The domain-gap mixture (DDK): shares from the teacher − student gap, whole allocations, and a round that expands only them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance

from pipeline_helpers import calls, run_pipeline, table
from spec_helpers import write_spec
from synth_assets.assets.mixture import allocate, gap_shares, gap_table, largest_remainder, mixture_frame, pick_errors
from synth_assets.spec import load_spec


def test_shares_follow_the_gap_and_smoothing_keeps_every_slice() -> None:
    shares = gap_shares({"a": 0.30, "b": 0.10, "c": -0.20, "d": None}, smoothing=0.05)
    assert sum(shares.values()) == pytest.approx(1.0)
    # (0.30 + λ) : (0.10 + λ) : λ : λ, a negative or unmeasured gap counting as 0
    assert shares["a"] == pytest.approx(0.35 / 0.60) and shares["b"] == pytest.approx(0.15 / 0.60)
    assert shares["c"] == shares["d"] == pytest.approx(0.05 / 0.60) and shares["c"] > 0
    assert gap_shares({"a": 0.0, "b": 0.0}, smoothing=0.05) == {"a": 0.5, "b": 0.5}  # no gap anywhere: an even split


@pytest.mark.parametrize("n", [0, 1, 4, 7, 10, 101])
def test_largest_remainder_sums_to_n(n: int) -> None:
    shares = {"a": 0.35 / 0.55, "b": 0.15 / 0.55, "c": 0.05 / 0.55}
    counts = largest_remainder(shares, n)
    assert sum(counts.values()) == n
    assert all(abs(counts[s] - shares[s] * n) < 1 for s in shares)
    assert largest_remainder({"a": 0.5, "b": 0.5}, 3) == {"a": 2, "b": 1}  # an even tie goes to the first slice by name


def test_a_slice_with_too_few_errors_gives_its_allocation_to_slices_with_more() -> None:
    shares = {"a": 0.7, "b": 0.2, "c": 0.1}
    assert allocate(shares, {"a": 9, "b": 9, "c": 9}, 10) == {"a": 7, "b": 2, "c": 1}
    # a has 2 errors for its 7: the 5 left go to b and c by their shares (2:1), capped by what c has
    assert allocate(shares, {"a": 2, "b": 9, "c": 9}, 10) == {"a": 2, "b": 5, "c": 3}
    assert allocate(shares, {"a": 2, "b": 9, "c": 1}, 10) == {"a": 2, "b": 7, "c": 1}
    assert allocate(shares, {"a": 2, "b": 1, "c": 0}, 10) == {"a": 2, "b": 1, "c": 0}  # fewer errors than the budget: all
    assert allocate({}, {}, 10) == {}


def test_each_slice_takes_the_errors_the_student_is_least_sure_of() -> None:
    errors = pl.DataFrame({"seed_id": ["s1", "s2", "s3", "s4", "s5"], "true_prob": [0.4, 0.1, None, 0.1, 0.3]})
    slices = pl.DataFrame({"seed_id": ["s1", "s2", "s3", "s4", "s5"], "slice": ["a", "a", "a", "b", "b"]})
    picked = pick_errors(errors, slices, {"a": 2, "b": 1})
    assert picked["seed_id"].to_list() == ["s1", "s2", "s4"]  # in student_errors' order; a: 0.1 then 0.4, unknown last
    assert pick_errors(errors, slices, {"a": 3, "b": 0})["seed_id"].to_list() == ["s1", "s2", "s3"]
    assert pick_errors(errors, slices, {}).height == 0


def test_the_gap_is_teacher_minus_student_accuracy_on_each_slice(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, rounds={"max_rounds": 1, "mixture": {"by": "label", "seeds_per_round": 3}}))
    slices = pl.DataFrame({"seed_id": ["g1", "g2", "g3", "g4", "o1", "o2"], "slice": ["great"] * 4 + ["other"] * 2})
    # round 0's teacher_correct: right on every `great` seed (one seed labelled twice), on half the `other` ones;
    # rows that are not label rows of labelled seeds carry null and measure nothing
    reference = pl.DataFrame({"seed_id": ["g1", "g2", "g3", "g4", "g4", "o1", "o2", "p1"],
                              "teacher_correct": [True, True, True, True, True, True, False, None]})
    # the student gets two `great` seeds wrong and one `other` right but unsure (uncertain_below): three errors, two wrong
    errors = pl.DataFrame({"seed_id": ["g1", "g2", "o1"], "target": ["great", "great", "other"],
                           "prediction": ["other", "other", "other"], "true_prob": [0.2, 0.3, 0.55]})
    gaps = gap_table(spec, slices, reference, errors)
    assert gaps.select("slice", "n_labelled", "teacher_accuracy", "student_accuracy", "gap", "available").rows() == [
        ("great", 4, 1.0, 0.5, 0.5, 2), ("other", 2, 0.5, 1.0, -0.5, 1)]
    df = mixture_frame(spec, 1, gaps)
    assert df["share"].to_list() == pytest.approx([0.55 / 0.60, 0.05 / 0.60])
    assert df["allocated"].to_list() == [2, 1]  # great's quota of 3 is capped at its 2 errors; the third goes to other

    stopped = mixture_frame(spec, 1, gap_table(spec, slices, reference, errors.clear()))
    assert stopped["allocated"].to_list() == [0, 0] and stopped["share"].is_null().all()
    assert stopped["student_accuracy"].is_null().all() and stopped["teacher_accuracy"].to_list() == [1.0, 0.5]


def test_a_round_expands_only_the_errors_the_mixture_allocates(tmp_path: Path) -> None:
    # min_improvement 1: round 2 stops, so its mixture has nothing to allocate
    rounds = {"max_rounds": 2, "strategy": {"name": "rephrase"}, "uncertain_below": 0.99, "min_improvement": 1.0,
              "mixture": {"by": "label", "seeds_per_round": 4}}
    spec = load_spec(write_spec(tmp_path, rounds=rounds))
    warehouse, instance, log = tmp_path / "warehouse", DagsterInstance.ephemeral(), tmp_path / "calls.log"
    assert run_pipeline(spec, warehouse, call_log=log, instance=instance).success

    mixture, errors = table(warehouse, spec, "mixture_r1"), table(warehouse, spec, "student_errors_r1")
    labelled = table(warehouse, spec, "seeds").filter(pl.col("target").is_not_null())
    assert errors.height > 4  # more errors than the budget: the mixture chooses
    assert set(mixture["slice"]) == set(labelled["target"]) and (mixture["round"] == 1).all()
    assert mixture["share"].sum() == pytest.approx(1.0) and (mixture["share"] > 0).all()
    assert mixture["allocated"].sum() == 4 and (mixture["allocated"] <= mixture["available"]).all()
    assert mixture["n_labelled"].sum() == labelled.height
    assert mixture.select((pl.col("gap") - (pl.col("teacher_accuracy") - pl.col("student_accuracy"))).abs().max()).item() < 1e-12

    # each slice's allocated errors, the ones the student is least sure of, and nothing else reached the teacher
    expanded = table(warehouse, spec, "expansions_r1")
    chosen = errors.join(labelled.select("seed_id"), on="seed_id").sort(["true_prob", "seed_id"], nulls_last=True)
    quota = dict(zip(mixture["slice"], mixture["allocated"]))
    wanted = {sid for label, group in chosen.group_by("target") for sid in group["seed_id"].head(quota[label[0]])}
    assert set(expanded["seed_id"]) == wanted and len(wanted) == 4
    assert expanded.height == 4 * spec.rounds.strategy.samples

    event = instance.get_latest_materialization_event(AssetKey([spec.name, "mixture_r1"])).asset_materialization
    assert {"share_chart", "shares", "allocated", "redistributed", "stopped"} <= set(event.metadata)
    assert "data:image/png;base64," in event.metadata["share_chart"].value

    assert table(warehouse, spec, "student_errors_r2").height == 0
    stopped = table(warehouse, spec, "mixture_r2")
    assert stopped.height == mixture.height and stopped["allocated"].sum() == 0 and stopped["share"].is_null().all()
    assert table(warehouse, spec, "expansions_r2").height == 0
    event = instance.get_latest_materialization_event(AssetKey([spec.name, "mixture_r2"])).asset_materialization
    assert "nothing to allocate" in event.metadata["stopped"].value
    with duckdb.connect(str(warehouse / "synth.duckdb"), read_only=True) as con:
        assert con.execute("select sum(allocated) from tiny.mixture_r1").fetchone() == (4,)

    made = calls(log)  # the same allocation again: every call is in the cache
    assert run_pipeline(spec, warehouse, call_log=log, instance=DagsterInstance.ephemeral()).success and calls(log) == made
