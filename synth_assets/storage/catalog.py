"""The DuckDB catalog: views over the Parquet tables, opened briefly and never required for a run.

DuckDB lets one process write a database file while no other process reads it. A user's
`duckdb -readonly warehouse/synth.duckdb` session therefore blocks catalog updates; since views
point at stable Parquet paths that are replaced atomically, a skipped update only delays *new*
views, never corrupts data, and the next refresh (or `synth catalog`) adds them.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import duckdb
import polars as pl

log = logging.getLogger("synth.catalog")
CATALOG_FILE = "synth.duckdb"
CACHE_DIR = "_cache"
CHECKPOINT_DIR = "_checkpoints"

LINEAGE_SQL = """
create or replace view "{schema}".lineage as
select t.row_id, t.origin, t.input, t.target, t.round, t.seed_id,
       s.source_file, s.source_row,
       e.strategy, e.sample_idx, e.teacher_model, e.prompt_hash, e.cache_key
from "{schema}".train_set t
join "{schema}".seeds s on s.seed_id = t.seed_id
left join "{schema}".expansions e on e.row_id = t.row_id
"""


# The cost ledger: teacher spend per strategy and round, over the expansions of every round.
COSTS_SQL = """
create or replace view "{schema}".costs as
select strategy, round, teacher_model,
       count(*) as rows, count(*) filter (where not cache_hit) as new_calls,
       count(*) filter (where error like 'skipped:%') as skipped_by_budget,
       count(*) filter (where error is not null and error not like 'skipped:%') as errors,
       sum(tokens_in) as tokens_in, sum(tokens_out) as tokens_out,
       round(sum(latency_ms) / 1000, 3) as engine_seconds, sum(cost_usd) as cost_usd
from ({union})
group by all order by round, strategy
"""
_EXPANSIONS = re.compile(r"^expansions(_r\d+)?$")
_EVAL_PREDICTIONS = re.compile(r"^eval_predictions$")


def _costs_statement(schema: str, schema_dir: Path, tables: set[str]) -> str | None:
    """The costs view when some expansions table carries the ledger columns (tables from older runs may not)."""
    sources = []
    for name in sorted(t for t in tables if _EXPANSIONS.match(t)):
        path = schema_dir / f"{name}.parquet"
        if path.is_file() and "cost_usd" in pl.read_parquet_schema(path):
            sources.append(f'select strategy, round, teacher_model, cache_hit, error, tokens_in, tokens_out, latency_ms, cost_usd from "{schema}"."{name}"')
    # the teacher's eval calls (label scoring or worked solutions of every eval row), failed ones included
    for name in sorted(t for t in tables if _EVAL_PREDICTIONS.match(t)):
        path = schema_dir / f"{name}.parquet"
        if sources and path.is_file() and "cost_usd" in pl.read_parquet_schema(path):
            sources.append(f"select 'eval' as strategy, round, teacher_model, cache_hit, error, tokens_in, tokens_out, "
                           f"latency_ms, cost_usd from \"{schema}\".\"{name}\" where model = 'teacher'")
    return COSTS_SQL.format(schema=schema, union=" union all ".join(sources)) if sources else None


_ROUND = re.compile(r"^student_errors_r(\d+)$")


def _round_statements(schema: str, tables: set[str]) -> list[str]:
    """eval_by_round (every round's eval_scores), error_lineage (round rows -> the student error behind them), active_lineage."""
    rounds = sorted(int(m.group(1)) for t in tables if (m := _ROUND.match(t)))
    stmts = []
    evals = [t for t in ["eval_scores", *(f"eval_scores_r{r}" for r in rounds)] if t in tables]
    if evals:
        union = " union all by name ".join(f'select * from "{schema}"."{t}"' for t in evals)
        stmts.append(f'create or replace view "{schema}".eval_by_round as {union}')
    parts = [
        f'select t.row_id, t.round, t.input, t.target, e.strategy, e.cache_key, e.teacher_model, '
        f'x.seed_id, x.input as error_input, x.target as error_target, x.prediction as error_prediction, '
        f'x.checkpoint_id as erring_checkpoint '
        f'from "{schema}"."train_set_r{r}" t join "{schema}"."expansions_r{r}" e on e.row_id = t.row_id '
        f'join "{schema}"."student_errors_r{r}" x on x.seed_id = e.seed_id where t.round = {r}'
        for r in rounds if {f"train_set_r{r}", f"expansions_r{r}"} <= tables
    ]
    if parts:
        stmts.append(f'create or replace view "{schema}".error_lineage as ' + " union all ".join(parts))
    # active selection: each chosen pool row -> the teacher's label for it -> the filters' verdict
    active = [
        f'select a.round, a.rank, a.seed_id, a.input, a.student_prediction, a.uncertainty, a.checkpoint_id, '
        f'e.row_id, e.target as teacher_label, e.confidence, e.cache_key, f.accepted, f.reject_reason '
        f'from "{schema}"."active_pool_r{r}" a '
        f'left join "{schema}"."expansions_r{r}" e on e.seed_id = a.seed_id and e.strategy = \'label\' '
        f'left join "{schema}"."filtered_r{r}" f on f.row_id = e.row_id'
        for r in rounds if {f"active_pool_r{r}", f"expansions_r{r}", f"filtered_r{r}"} <= tables
    ]
    if active:
        stmts.append(f'create or replace view "{schema}".active_lineage as ' + " union all ".join(active))
    return stmts


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _view_statements(root: Path) -> list[str]:
    """One view per Parquet table found under the warehouse, plus derived views."""
    stmts: list[str] = []
    for schema_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        schema = schema_dir.name
        stmts.append(f'create schema if not exists "{schema}"')
        tables: set[str] = set()
        for item in sorted(schema_dir.iterdir()):
            if item.is_file() and item.suffix == ".parquet":
                source = f"read_parquet({_quote(item)})"
            elif item.is_dir() and any(item.glob("*.parquet")):
                source = f"read_parquet({_quote(item / '*.parquet')}, union_by_name=true)"
            else:
                continue
            name = item.stem if item.is_file() else item.name
            tables.add(name)
            stmts.append(f'create or replace view "{schema}"."{name}" as select * from {source}')
        if {"train_set", "seeds", "expansions"} <= tables:
            stmts.append(LINEAGE_SQL.format(schema=schema))
        stmts += _round_statements(schema, tables)
        costs = _costs_statement(schema, schema_dir, tables)
        if costs:
            stmts.append(costs)
    cache = root / CACHE_DIR / "teacher"
    if cache.is_dir() and any(cache.glob("*.parquet")):
        stmts.append(f"create or replace view main.teacher_cache as select * from read_parquet({_quote(cache / '*.parquet')}, union_by_name=true)")
    return stmts


def memory_catalog(root: Path) -> duckdb.DuckDBPyConnection:
    """The catalog's views in an in-memory database: reads that never wait for, or block, the catalog file."""
    con = duckdb.connect()
    for stmt in _view_statements(Path(root)):
        con.execute(stmt)
    return con


def refresh_catalog(root: Path, attempts: int = 5, wait_s: float = 0.2) -> bool:
    """(Re)create every view; returns False, after logging why, when the file is locked by a reader."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stmts = _view_statements(root)
    for attempt in range(attempts):
        try:
            with duckdb.connect(str(root / CATALOG_FILE)) as con:
                con.execute("begin")
                for stmt in stmts:
                    con.execute(stmt)
                con.execute("commit")
            return True
        except duckdb.IOException as exc:  # lock held by another process
            if attempt == attempts - 1:
                log.warning("catalog %s not updated (%s); run `synth catalog` later to add new views", root / CATALOG_FILE, exc)
                return False
            time.sleep(wait_s * (attempt + 1))
    return False
