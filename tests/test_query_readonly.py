"""`synth query` reads the warehouse and nothing else: writes are refused, files outside it are out of reach."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from synth_assets.storage.catalog import refresh_catalog
from synth_assets.storage.parquet import write_parquet_atomic

SYNTH = Path(sys.executable).parent / "synth"


def synth_query(warehouse: Path, sql: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SYNTH), "query", "--warehouse", str(warehouse), sql], capture_output=True, text=True, timeout=120)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """A pipeline table and a teacher cache shard, with the catalog's views over them."""
    root = tmp_path / "warehouse"
    write_parquet_atomic(pl.DataFrame({"seed_id": ["a", "b", "c"], "input": ["x", "y", "z"]}), root / "hb" / "seeds.parquet")
    write_parquet_atomic(pl.DataFrame({"cache_key": ["k1", "k2"]}), root / "_cache" / "teacher" / "shard.parquet")
    assert refresh_catalog(root)
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("sql", [
    "copy (select 42 as x) to '{wh}/hb/seeds.parquet' (format parquet)",
    "select 1; copy (select 42 as x) to '{wh}/hb/seeds.parquet' (format parquet)",
    "explain analyze copy (select 42 as x) to '{wh}/hb/seeds.parquet' (format parquet)",
    "export database '{wh}/dump'",
    "install httpfs",
    "load httpfs",
    "attach '{wh}/other.duckdb'",
    "set enable_external_access = true",
    "pragma enable_profiling",
])
def test_query_refuses_statements_that_are_not_reads(warehouse: Path, sql: str) -> None:
    before = _files(warehouse)
    line = _one_line_error(synth_query(warehouse, sql.format(wh=warehouse)))
    assert "synth query runs read statements only" in line, line
    assert _files(warehouse) == before  # no table overwritten, nothing new in the warehouse


def test_query_reads_views_but_no_file_outside_the_warehouse(warehouse: Path) -> None:
    result = synth_query(warehouse, "select count(*) as n from hb.seeds")
    assert result.returncode == 0, result.stderr
    assert "3" in result.stdout.split("n")[-1]
    # the other read statements, the teacher cache view, and a direct read inside the warehouse
    for sql in ("with s as (select * from hb.seeds) select max(input) as top from s", "describe hb.seeds",
                "show all tables", "explain select * from hb.seeds", "select count(*) as k from main.teacher_cache",
                f"select count(*) as c from read_parquet('{warehouse}/hb/seeds.parquet')"):
        result = synth_query(warehouse, sql)
        assert result.returncode == 0 and result.stdout.strip(), (sql, result.stderr)
    for sql in ("select * from read_csv('/etc/passwd')", f"select * from read_text('{warehouse}/../../../../etc/passwd')",
                "select * from glob('/etc/*')"):
        line = _one_line_error(synth_query(warehouse, sql))
        assert "synth query reads only files under" in line and str(warehouse) in line, line


def test_query_sql_mistakes_print_duckdbs_error_line(warehouse: Path) -> None:
    line = _one_line_error(synth_query(warehouse, "selec * from hb.seeds"))
    assert line == 'error: Parser Error: syntax error at or near "selec"'
    line = _one_line_error(synth_query(warehouse, "select * from hb.nope"))
    assert line.startswith("error: Catalog Error: Table with name nope does not exist"), line
