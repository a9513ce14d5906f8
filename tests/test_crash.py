"""kill -9 in the middle of teacher generation: the rerun pays only for the calls that were lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from spec_helpers import write_spec
from pipeline_helpers import calls, run_pipeline, table
from synth_assets.inference.cache import TeacherCache
from synth_assets.spec import load_spec

CHILD = """
import sys
sys.path.insert(0, {tests!r})
from dagster import DagsterInstance
from pipeline_helpers import fake_definitions
from synth_assets.runs import materialize_all
from synth_assets.spec import load_spec
from pathlib import Path
spec = load_spec({spec!r})
defs = fake_definitions(spec, Path({warehouse!r}), call_log=Path({log!r}), delay_s=0.3)
materialize_all(defs, [spec.name], DagsterInstance.ephemeral())
"""


def test_killed_run_resumes_from_persisted_batches(tmp_path: Path) -> None:
    spec_file = write_spec(tmp_path)
    warehouse, log = tmp_path / "warehouse", tmp_path / "calls.log"
    code = CHILD.format(tests=str(Path(__file__).parent), spec=str(spec_file), warehouse=str(warehouse), log=str(log))
    child = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    cache = TeacherCache(warehouse)
    deadline = time.time() + 120
    while len({p.name for p in cache.shards()}) < 3 and time.time() < deadline:  # a few batches done
        assert child.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()

    # every shard is a whole Parquet file (temp files of a killed write are never named *.parquet)
    persisted = pl.read_parquet(cache.shards()).height
    paid_before = calls(log)
    assert 0 < persisted <= paid_before and not (warehouse / "tiny" / "expansions.parquet").exists()

    spec = load_spec(spec_file)
    assert run_pipeline(spec, warehouse, call_log=log).success
    exp = table(warehouse, spec, "expansions")
    n_eval = table(warehouse, spec, "eval_set").height
    # the rerun paid exactly for what was not persisted: nothing twice beyond the batch in flight
    assert calls(log) - paid_before == exp.height + n_eval - persisted
    assert exp["cache_hit"].sum() == persisted
    assert exp["row_id"].n_unique() == exp.height
    cached = pl.read_parquet(cache.shards())
    assert cached["cache_key"].n_unique() == cached.height == exp.height + n_eval
