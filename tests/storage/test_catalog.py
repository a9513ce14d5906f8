"""DuckDB is a catalog over Parquet: readers never break a run, and a run never breaks a reader."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from spec_helpers import write_spec
from pipeline_helpers import run_pipeline, table
from synth_assets.spec import load_spec
from synth_assets.storage.catalog import memory_catalog, refresh_catalog
from synth_assets.storage.parquet import write_parquet_atomic
from test_cli_refusals import synth

HOLD_READER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("select count(*) from demo.t").fetchone()[0], flush=True)
time.sleep(float(sys.argv[2]))
print(con.execute("select count(*) from demo.t").fetchone()[0], flush=True)
"""


def _start_reader(db: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_READER, str(db), str(seconds)], stdout=subprocess.PIPE, text=True)
    first = proc.stdout.readline().strip()  # the reader holds the file once it has printed
    assert first.isdigit(), first
    return proc


def test_views_over_parquet_and_two_readers(tmp_path: Path) -> None:
    write_parquet_atomic(pl.DataFrame({"x": [1, 2, 3]}), tmp_path / "demo" / "t.parquet")
    assert refresh_catalog(tmp_path)
    db = str(tmp_path / "synth.duckdb")
    with duckdb.connect(db, read_only=True) as a, duckdb.connect(db, read_only=True) as b:
        assert a.execute("select sum(x) from demo.t").fetchone()[0] == 6
        assert b.execute("select count(*) from demo.t").fetchone()[0] == 3


def test_reader_process_blocks_catalog_but_not_data(tmp_path: Path) -> None:
    write_parquet_atomic(pl.DataFrame({"x": [1, 2, 3]}), tmp_path / "demo" / "t.parquet")
    assert refresh_catalog(tmp_path)
    reader = _start_reader(tmp_path / "synth.duckdb", 3.0)
    try:
        # new data lands in Parquet; the catalog update is skipped (not fatal) while the lock is held
        write_parquet_atomic(pl.DataFrame({"x": [1, 2, 3, 4]}), tmp_path / "demo" / "t.parquet")
        assert refresh_catalog(tmp_path, attempts=2, wait_s=0.05) is False
        # the reader's existing view sees the new rows: views point at stable paths
        assert reader.stdout.readline().strip() == "4"
    finally:
        reader.wait(timeout=30)
    assert refresh_catalog(tmp_path)


def test_catalog_update_waits_out_a_short_read(tmp_path: Path) -> None:
    write_parquet_atomic(pl.DataFrame({"x": [1, 2, 3]}), tmp_path / "demo" / "t.parquet")
    assert refresh_catalog(tmp_path)
    reader = _start_reader(tmp_path / "synth.duckdb", 0.3)
    write_parquet_atomic(pl.DataFrame({"y": [1]}), tmp_path / "demo" / "u.parquet")
    # tries 0.2, 0.4, 0.6 and 0.8 s apart: the reader is gone before the last one
    assert refresh_catalog(tmp_path, attempts=5, wait_s=0.2)
    reader.wait(timeout=30)
    with duckdb.connect(str(tmp_path / "synth.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from demo.u").fetchone()[0] == 1


def test_pipeline_run_succeeds_while_user_holds_readonly_session(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path))
    warehouse = tmp_path / "warehouse"
    write_parquet_atomic(pl.DataFrame({"x": [1, 2, 3]}), warehouse / "demo" / "t.parquet")
    assert refresh_catalog(warehouse)
    reader = _start_reader(warehouse / "synth.duckdb", 8.0)
    try:
        result = run_pipeline(spec, warehouse)
        assert result.success
        assert table(warehouse, spec, "eval_scores").height > 0
    finally:
        reader.wait(timeout=60)
    assert refresh_catalog(warehouse)
    with duckdb.connect(str(warehouse / "synth.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from tiny.lineage").fetchone()[0] > 0


def test_atomic_write_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "tables" / "t.parquet"
    write_parquet_atomic(pl.DataFrame({"x": [1]}), target)

    class Boom(pl.DataFrame):
        def write_parquet(self, *a, **k):  # fails mid-write, like a crash
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_parquet_atomic(Boom({"x": [1, 2]}), target)
    assert pl.read_parquet(target)["x"].to_list() == [1]
    assert [p.name for p in target.parent.iterdir()] == ["t.parquet"]


def test_an_unreadable_table_is_left_out_by_name_and_the_rest_catalogued(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_parquet_atomic(pl.DataFrame({"x": [1, 2, 3]}), tmp_path / "demo" / "t.parquet")
    write_parquet_atomic(pl.DataFrame({"x": [1, 2, 3]}), tmp_path / "demo" / "cut.parquet")
    cut = tmp_path / "demo" / "cut.parquet"
    cut.write_bytes(cut.read_bytes()[:100])  # truncated
    write_parquet_atomic(pl.DataFrame({"y": [1, 2]}), tmp_path / "demo" / "sharded" / "000.parquet")
    (tmp_path / "demo" / "sharded" / "001.parquet").write_bytes(b"not parquet")
    with caplog.at_level(logging.WARNING, logger="synth.catalog"):
        assert refresh_catalog(tmp_path)
    assert f"catalog: {cut} left out of view demo.cut: the file is unreadable" in caplog.text
    assert f"catalog: {tmp_path / 'demo' / 'sharded' / '001.parquet'} left out of view demo.sharded" in caplog.text
    with duckdb.connect(str(tmp_path / "synth.duckdb"), read_only=True) as con:
        assert con.execute("select sum(x) from demo.t").fetchone()[0] == 6
        assert con.execute("select count(*) from demo.sharded").fetchone()[0] == 2  # the readable shard
        assert con.execute("select count(*) from duckdb_views() where view_name = 'cut'").fetchone()[0] == 0
    with memory_catalog(tmp_path) as con:  # what export reads through
        assert con.execute("select sum(x) from demo.t").fetchone()[0] == 6


def test_views_a_locked_catalog_missed_appear_at_the_next_command(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path))
    warehouse = tmp_path / "warehouse"
    write_parquet_atomic(pl.DataFrame({"x": [1, 2, 3]}), warehouse / "demo" / "t.parquet")
    assert refresh_catalog(warehouse)
    reader = _start_reader(warehouse / "synth.duckdb", 600.0)  # a user's session, open for the whole run
    try:
        assert run_pipeline(spec, warehouse).success
    finally:
        reader.kill()  # the session ends; SIGKILL, as SIGTERM once outlasted 30 s on a loaded 2-core machine
        reader.wait(timeout=30)
    done = synth("query", "--warehouse", str(warehouse), "select count(*) as n from tiny.lineage", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert re.findall(r"│\s*(\d+)\s*│", done.stdout) == [str(table(warehouse, spec, "train_set").height)]
