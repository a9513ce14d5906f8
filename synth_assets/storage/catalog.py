"""The DuckDB catalog: views over the Parquet tables, opened briefly and never required for a run.

DuckDB lets one process write a database file while no other process reads it. A user's
`duckdb -readonly warehouse/synth.duckdb` session therefore blocks catalog updates; since views
point at stable Parquet paths that are replaced atomically, a skipped update only delays *new*
views, never corrupts data. A skipped update leaves a marker file in the warehouse, and the next
refresh, or the next `synth` command (`refresh_if_behind`), adds the missing views.

Every view is tried on an in-memory DuckDB first: a table whose file is unreadable (truncated,
not Parquet) is left out with a warning naming the file, and the rest of the catalog is still
written. Building the catalog never fails a step.

A warehouse on S3 keeps its catalog file in the warehouse's local state folder (DuckDB writes
databases on local disks only); its views read the `s3://` objects through httpfs.
"""

from __future__ import annotations

import logging
import re
from functools import partial
from pathlib import Path

import duckdb
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_incrementing

from synth_assets.storage.location import Location, children, is_remote, state_dir, warehouse_location
from synth_assets.storage.object_store_sql import ObjectStoreError, attach_object_store
from synth_assets.storage.sql import qualified, quote_ident, quote_literal
from synth_assets.storage.table_files import first_line

log = logging.getLogger("synth.catalog")
CATALOG_FILE = "synth.duckdb"
PENDING_FILE = ".catalog_pending"  # in the warehouse while the catalog lags behind the tables (holds the reason)
CACHE_DIR = "_cache"
CHECKPOINT_DIR = "_checkpoints"
TEACHER_CACHE_GLOB = "**/*.parquet"

LINEAGE_SQL = """
create or replace view {lineage} as
select t.row_id, t.origin, t.input, t.target, t.round, t.seed_id,
       s.source_file, s.source_row,
       e.strategy, e.sample_idx, e.teacher_model, e.prompt_hash, e.cache_key
from {train_set} t
join {seeds} s on s.seed_id = t.seed_id
left join {expansions} e on e.row_id = t.row_id
"""


def _lineage_statement(schema: str) -> str:
    """The lineage view of one pipeline: each training row back to its seed file row and teacher call."""
    names = ("lineage", "train_set", "seeds", "expansions")
    return LINEAGE_SQL.format(**{name: qualified(schema, name) for name in names})


# The cost ledger: teacher spend per strategy and round, over the expansions of every round.
COSTS_SQL = """
create or replace view {costs} as
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


def _costs_statement(schema: str, ledger: set[str]) -> str | None:
    """The costs view over the tables of `ledger`, those whose view carries the ledger columns (older runs' may not)."""
    sources = [f'select strategy, round, teacher_model, cache_hit, error, tokens_in, tokens_out, latency_ms, cost_usd from {qualified(schema, name)}'
               for name in sorted(t for t in ledger if _EXPANSIONS.match(t))]
    # the teacher's eval calls (label scoring or worked solutions of every eval row), failed ones included
    if sources and "eval_predictions" in ledger:
        sources.append(f"select 'eval' as strategy, round, teacher_model, cache_hit, error, tokens_in, tokens_out, "
                       f"latency_ms, cost_usd from {qualified(schema, 'eval_predictions')} where model = 'teacher'")
    return COSTS_SQL.format(costs=qualified(schema, "costs"), union=" union all ".join(sources)) if sources else None


_ROUND = re.compile(r"^student_errors_r(\d+)$")


def _round_statements(schema: str, tables: set[str]) -> list[str]:
    """eval_by_round (every round's eval_scores), error_lineage (round rows -> the student error behind them), active_lineage."""
    rounds = sorted(int(m.group(1)) for t in tables if (m := _ROUND.match(t)))
    q = partial(qualified, schema)  # every name below is in this pipeline's schema
    stmts = []
    evals = [t for t in ["eval_scores", *(f"eval_scores_r{r}" for r in rounds)] if t in tables]
    if evals:
        union = " union all by name ".join(f"select * from {q(t)}" for t in evals)
        stmts.append(f"create or replace view {q('eval_by_round')} as {union}")
    parts = [
        f'select t.row_id, t.round, t.input, t.target, e.strategy, e.cache_key, e.teacher_model, '
        f'x.seed_id, x.input as error_input, x.target as error_target, x.prediction as error_prediction, '
        f'x.checkpoint_id as erring_checkpoint '
        f'from {q(f"train_set_r{r}")} t join {q(f"expansions_r{r}")} e on e.row_id = t.row_id '
        f'join {q(f"student_errors_r{r}")} x on x.seed_id = e.seed_id where t.round = {r}'
        for r in rounds if {f"train_set_r{r}", f"expansions_r{r}"} <= tables
    ]
    if parts:
        stmts.append(f"create or replace view {q('error_lineage')} as " + " union all ".join(parts))
    # active selection: each chosen pool row -> the teacher's label for it -> the filters' verdict
    active = [
        f'select a.round, a.rank, a.seed_id, a.input, a.student_prediction, a.uncertainty, a.checkpoint_id, '
        f'e.row_id, e.target as teacher_label, e.confidence, e.cache_key, f.accepted, f.reject_reason '
        f'from {q(f"active_pool_r{r}")} a '
        f'left join {q(f"expansions_r{r}")} e on e.seed_id = a.seed_id and e.strategy = \'label\' '
        f'left join {q(f"filtered_r{r}")} f on f.row_id = e.row_id'
        for r in rounds if {f"active_pool_r{r}", f"expansions_r{r}", f"filtered_r{r}"} <= tables
    ]
    if active:
        stmts.append(f"create or replace view {q('active_lineage')} as " + " union all ".join(active))
    return stmts


_VIEW_NAME = re.compile(r"create or replace view (\S+)")


def _schema_dirs(root: Location) -> list[Location]:
    return [p for p, is_dir in children(root) if is_dir and not p.name.startswith(("_", "."))]


def _table_items(schema_dir: Location) -> dict[str, Location]:
    """Table name -> its Parquet file, or its folder of partition files."""
    items = {}
    for item, is_dir in children(schema_dir):
        if not is_dir and item.suffix == ".parquet":
            items[item.stem] = item
        elif is_dir and any(f.suffix == ".parquet" for f, sub in children(item) if not sub):
            items[item.name] = item
    return items


class _Views:
    """Views created one at a time on an in-memory DuckDB; what fails is left out, with a warning saying what and why."""

    def __init__(self, root: Location) -> None:
        self.con = duckdb.connect()
        attach_object_store(self.con, root)
        self.statements: list[str] = []

    def _error(self, stmt: str) -> str | None:
        try:
            self.con.execute(stmt)
        except duckdb.Error as exc:
            return first_line(exc)
        return None

    def add(self, stmt: str) -> bool:
        error = self._error(stmt)
        if error:
            name = _VIEW_NAME.search(stmt)
            log.warning("catalog: %s left out (%s)", "view " + name.group(1).replace('"', "") if name else stmt.split("\n")[0], error)
            return False
        self.statements.append(stmt)
        return True

    def add_table(self, schema: str, name: str, path: Location, pattern: str = "*.parquet") -> bool:
        """A view over a table file or a folder of parts; an unreadable file is named and left out, other parts kept."""
        def view(source: str) -> str:
            # folder names such as the teacher cache's p=ab are not columns: they repeat what the rows hold
            return (f"create or replace view {qualified(schema, name)} as select * from read_parquet({source}, "
                    "union_by_name=true, hive_partitioning=false)")

        if path.is_file():
            files, source = [path], quote_literal(path)
        else:
            files, source = sorted(path.glob(pattern)), quote_literal(path / pattern)
        if not self._error(view(source)):
            self.statements.append(view(source))
            return True
        readable = []
        for file in files:
            error = self._error(f"select * from read_parquet({quote_literal(file)}) limit 0")
            if error:
                log.warning("catalog: %s left out of view %s.%s: the file is unreadable (%s); "
                            "`synth status` shows its asset stale and `synth run --stale` recomputes it", file, schema, name, error)
            else:
                readable.append(file)
        return bool(readable) and self.add(view("[" + ", ".join(quote_literal(f) for f in readable) + "]"))

    def columns(self, schema: str, name: str) -> set[str]:
        rows = self.con.execute("select column_name from duckdb_columns() where schema_name = ? and table_name = ?", [schema, name])
        return {r[0] for r in rows.fetchall()}


def _build(root: Location) -> _Views:
    """One view per readable Parquet table found under the warehouse, plus the derived views over them."""
    views = _Views(root)
    for schema_dir in _schema_dirs(root):
        schema = schema_dir.name
        views.add(f"create schema if not exists {quote_ident(schema)}")
        tables = {name for name, path in _table_items(schema_dir).items() if views.add_table(schema, name, path)}
        derived = [_lineage_statement(schema)] if {"train_set", "seeds", "expansions"} <= tables else []
        derived += _round_statements(schema, tables)
        derived.append(_costs_statement(schema, {t for t in tables if "cost_usd" in views.columns(schema, t)}))
        for stmt in filter(None, derived):
            views.add(stmt)
    # the teacher cache's partitions (p=ab/*.parquet) and any flat shard of the layout before them, not yet moved
    cache = root / CACHE_DIR / "teacher"
    if cache.is_dir() and any(cache.glob(TEACHER_CACHE_GLOB)):
        views.add_table("main", "teacher_cache", cache, TEACHER_CACHE_GLOB)
    return views


def _view_statements(root: Location) -> list[str]:
    """The statements that (re)create every view DuckDB could build, in order."""
    views = _build(root)
    views.con.close()
    return views.statements


def memory_catalog(root: Location | str) -> duckdb.DuckDBPyConnection:
    """The catalog's views in an in-memory database: reads that never wait for, or block, the catalog file."""
    return _build(warehouse_location(root)).con


def catalog_file(root: Location | str) -> Path:
    """Where the warehouse's DuckDB file is: in the warehouse folder, or in the local state folder of one on S3."""
    return state_dir(warehouse_location(root)) / CATALOG_FILE


def refresh_catalog(root: Location | str, attempts: int = 5, wait_s: float = 0.2) -> bool:
    """(Re)create every view; False, after logging why, when the file is locked by a reader (the next command retries)."""
    root = warehouse_location(root)
    state = state_dir(root)
    state.mkdir(parents=True, exist_ok=True)
    try:
        stmts = _view_statements(root)
    except ObjectStoreError as exc:
        return _pending(state, str(exc))
    if (state / PENDING_FILE).exists():  # a reader held the file a moment ago: no 2 s of waiting for every table of a run
        attempts = min(attempts, 2)
    if attempts < 1:
        return False
    # a lock held by another process (IOException) is waited out, wait_s longer each time; any other
    # error (e.g. a table replaced between the in-memory try and the commit) is not retried
    retrying = Retrying(retry=retry_if_exception_type(duckdb.IOException), stop=stop_after_attempt(attempts),
                        wait=wait_incrementing(start=wait_s, increment=wait_s), reraise=True)
    try:
        retrying(_write_views, state / CATALOG_FILE, stmts, root)
    except duckdb.Error as exc:
        return _pending(state, first_line(exc))
    (state / PENDING_FILE).unlink(missing_ok=True)
    return True


def _write_views(path: Path, stmts: list[str], root: Location) -> None:
    """Every statement in one transaction on the catalog file: readers see all the new views or none."""
    with duckdb.connect(str(path)) as con:
        attach_object_store(con, root)  # a view over s3:// objects is bound, so read, as it is created
        con.execute("begin")
        for stmt in stmts:
            con.execute(stmt)
        con.execute("commit")


def _pending(state: Path, why: str) -> bool:
    """Note that the catalog lags behind, so the next refresh_if_behind catches up; never raises."""
    log.warning("catalog %s not updated (%s); the next synth command adds the new views (or run `synth catalog`)",
                state / CATALOG_FILE, why)
    try:
        (state / PENDING_FILE).write_text(why + "\n")
    except OSError:
        pass  # the table files are the truth; a missing marker only delays the catch-up to a missing-view check
    return False


def catalog_behind(root: Location | str) -> bool:
    """Whether the last refresh failed or some table under the warehouse has no view in the catalog file."""
    root = warehouse_location(root)
    state = state_dir(root)
    if (state / PENDING_FILE).exists():
        return True
    tables = {(d.name, name) for d in _schema_dirs(root) for name in _table_items(d)}
    if not tables:
        return False
    if not (state / CATALOG_FILE).is_file():
        return True
    try:
        with duckdb.connect(str(state / CATALOG_FILE), read_only=True) as con:
            views = set(con.execute("select schema_name, view_name from duckdb_views() where not internal").fetchall())
    except duckdb.Error:  # a run holds the file to write it: that run refreshes it
        return False
    return not tables <= views


def refresh_if_behind(root: Location | str) -> None:
    """What a synth command does first: add the views a locked catalog file missed; never fails the command."""
    try:
        root = warehouse_location(root)
        if (is_remote(root) or root.is_dir()) and catalog_behind(root):
            refresh_catalog(root, attempts=2)
    except Exception as exc:  # the catalog is a convenience over the tables; a command must not die of it
        log.warning("catalog of %s not checked (%s)", root, first_line(exc))
