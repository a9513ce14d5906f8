"""Every round's tables come from the round-0 builders: the same metadata and the same checks, round after round."""

from __future__ import annotations

from pathlib import Path

from dagster import AssetKey, DagsterInstance

from pipeline_helpers import fake_definitions, run_pipeline
from spec_helpers import write_spec
from synth_assets.spec import load_spec

STAGES = ("expansions", "judgements", "filtered", "train_set", "student_checkpoint", "eval_scores")
ROUND_ONLY = {"eval_scores": {"accuracy_gain_over_previous_round", "accuracy_gain_over_seeds_only"}}


def test_round_tables_carry_the_metadata_and_checks_of_round_0(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, rounds={"max_rounds": 2, "strategy": {"name": "rephrase"}, "min_improvement": 0.0,
                                                  "uncertain_below": 0.99},
                                filters={"confidence": {"min_precision": 0.5, "min_support": 2}, "judge": {"enabled": True},
                                         "student_aware": {"enabled": True}}))
    warehouse, instance = tmp_path / "warehouse", DagsterInstance.ephemeral()
    assert run_pipeline(spec, warehouse, instance=instance).success
    graph = fake_definitions(spec, warehouse).resolve_asset_graph()

    def metadata(table: str, r: int) -> set[str]:
        key = AssetKey([spec.name, table if r == 0 else f"{table}_r{r}"])
        return set(instance.get_latest_materialization_event(key).asset_materialization.metadata)

    def checks(table: str, r: int) -> set[str]:
        return {c.name for c in graph.get(AssetKey([spec.name, table if r == 0 else f"{table}_r{r}"])).check_keys}

    for table in STAGES:
        first = metadata(table, 0)
        assert first, table
        for r in (1, 2):
            assert metadata(table, r) == first | ROUND_ONLY.get(table, set()), (table, r)
            assert checks(table, r) == checks(table, 0), (table, r)
    # the per-round behaviour the issue names: each round's filtered shows the length histogram
    for r in (0, 1, 2):
        assert "length_histogram" in metadata("filtered", r) and "by_strategy" in metadata("filtered", r)
        assert {"per_strategy", "cache_hit_rate", "teacher_model"} <= metadata("expansions", r)
