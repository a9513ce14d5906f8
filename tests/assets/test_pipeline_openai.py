"""The whole graph against a real OpenAI-compatible server on loopback; the API key never lands anywhere."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance

from spec_helpers import write_spec
from synth_assets.factory import build_definitions
from synth_assets.runs import materialize_all
from synth_assets.spec import load_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
from openai_server import Fleet  # noqa: E402

SECRET = "sk-test-5f1c0de-never-store-me"


@pytest.fixture
def fleet():
    f = Fleet(n=2)
    yield f
    f.close()


def test_pipeline_through_http_teacher_keeps_the_key_out(tmp_path: Path, fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTH_TEST_KEY", SECRET)
    spec = load_spec(write_spec(
        tmp_path,
        label_words={"great": "yes", "other": "no"},
        teacher={"backend": "openai", "model": "teacher-7b", "base_urls": fleet.urls, "api_key_env": "SYNTH_TEST_KEY",
                 "batch_size": 8, "concurrency": 4},
        strategies=[{"name": "label"}, {"name": "rephrase", "samples": 1}],
    ))
    warehouse = tmp_path / "warehouse"
    instance = DagsterInstance.get()
    assert materialize_all(build_definitions([spec], warehouse), [spec.name], instance).success

    exp = pl.read_parquet(warehouse / "tiny" / "expansions.parquet")
    assert exp["error"].null_count() == exp.height and exp["teacher_model"].unique().to_list() == ["openai:teacher-7b"]
    assert exp.filter(pl.col("strategy") == "label")["target"].is_in(["great", "other"]).all()
    assert {r.server for r in fleet.records} == {0, 1}
    assert all(r.headers.get("Authorization") == f"Bearer {SECRET}" for r in fleet.records)
    # every call exactly once: nothing lost, nothing duplicated; each rewrite's label check (verify_label, on by
    # default) is one more call, whose scores the rewrite's row carries
    rewrites = exp.filter(pl.col("strategy") == "rephrase")
    assert rewrites.height and rewrites["label_scores"].null_count() == 0
    eval_calls = pl.read_parquet(warehouse / "tiny" / "eval_set.parquet").height
    assert sum(fleet.completed.values()) == exp.height + rewrites.height + eval_calls

    # the key is in no table, no catalog, no cache shard, no Dagster event or log
    leaked = [p for root in (warehouse, Path(instance.root_directory)) for p in root.rglob("*")
              if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaked == []
