"""The cost ledger and the budget cap, through a real Dagster materialisation and the DuckDB catalog."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
from dagster import DagsterInstance

from spec_helpers import write_spec
from pipeline_helpers import calls, run_pipeline, table
from synth_assets.inference.budget import SKIPPED
from synth_assets.spec import load_spec

PRICES = {"fake": {"input_per_million": 3.0, "output_per_million": 15.0}}


def test_budget_caps_calls_and_the_costs_view_adds_up(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, budget={"prices": PRICES, "max_calls": 10}))
    warehouse, log = tmp_path / "warehouse", tmp_path / "calls.log"
    assert run_pipeline(spec, warehouse, call_log=log, instance=DagsterInstance.ephemeral()).success
    exp = table(warehouse, spec, "expansions")
    skipped = exp.filter(pl.col("error") == SKIPPED)
    made = exp.filter(pl.col("error").is_null())
    assert skipped.height > 0 and made.height > 0
    assert made.height == 10  # the eval set's teacher labels are measured outside the dataset's cap
    assert (made["cost_usd"] - (made["tokens_in"] * 3.0 + made["tokens_out"] * 15.0) / 1e6).abs().max() < 1e-12
    assert (skipped["cost_usd"] == 0).all()
    filtered = table(warehouse, spec, "filtered")
    assert not filtered.filter(pl.col("row_id").is_in(skipped["row_id"].implode()))["accepted"].any()

    with duckdb.connect(str(warehouse / "synth.duckdb"), read_only=True) as con:
        rows, skipped_n, usd = con.execute(
            "select sum(rows), sum(skipped_by_budget), sum(cost_usd) from tiny.costs where strategy != 'eval'").fetchone()
        eval_rows, eval_usd, eval_errors = con.execute(
            "select sum(rows), sum(cost_usd), sum(errors) from tiny.costs where strategy = 'eval'").fetchone()
    assert rows == exp.height and skipped_n == skipped.height
    assert abs(usd - float(exp["cost_usd"].sum())) < 1e-12
    # the teacher's eval calls are in the ledger too, priced like the dataset's
    teacher_eval = table(warehouse, spec, "eval_predictions").filter(pl.col("model") == "teacher")
    assert eval_rows == teacher_eval.height == table(warehouse, spec, "eval_set").height and eval_errors == 0
    assert eval_usd > 0 and abs(eval_usd - float(teacher_eval["cost_usd"].sum())) < 1e-12

    # a higher cap makes only the skipped calls
    before = calls(log)
    more = load_spec(write_spec(tmp_path, budget={"prices": PRICES, "max_calls": 1000}))
    assert run_pipeline(more, warehouse, call_log=log, instance=DagsterInstance.ephemeral()).success
    exp2 = table(warehouse, more, "expansions")
    assert exp2.filter(pl.col("error") == SKIPPED).height == 0
    assert calls(log) - before == skipped.height
