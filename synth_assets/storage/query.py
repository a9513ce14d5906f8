"""Read-only SQL over the catalog: read statements only, and no file outside the warehouse.

A read-only DuckDB connection still lets COPY overwrite a Parquet table behind Dagster's back,
read any file the user can, or install extensions. Two locks close that: DuckDB's own parser
sorts statements by type (only SELECT and EXPLAIN of a SELECT run), and the connection's file
access is confined to the warehouse folder with the configuration locked, so the catalog's
views over the warehouse's Parquet keep working and nothing else is reachable.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from synth_assets.storage.catalog import catalog_file
from synth_assets.storage.location import Location, is_remote, warehouse_location
from synth_assets.storage.object_store_sql import attach_object_store

# DESCRIBE, SHOW, SUMMARIZE, FROM-first, VALUES and table-valued PRAGMAs all parse as SELECT
READ_STATEMENTS = "SELECT, WITH, EXPLAIN, DESCRIBE, SHOW"
_EXPLAIN = re.compile(r"\s*explain\s+(analy[sz]e\s+)?", re.IGNORECASE)


class QueryRefused(ValueError):
    """A statement that could change the warehouse or reach outside it."""


def _kind(statement: duckdb.Statement) -> str:
    """The statement's type; for EXPLAIN, the type of what it explains (EXPLAIN ANALYZE runs it)."""
    kind = statement.type.name
    if kind != "EXPLAIN":
        return "INSTALL/LOAD" if kind == "LOAD" else kind  # DuckDB types INSTALL as LOAD
    match = _EXPLAIN.match(statement.query)
    try:
        inner = duckdb.extract_statements(statement.query[match.end():]) if match else []
    except duckdb.ParserException:
        inner = []
    return f"EXPLAIN {inner[0].type.name}" if len(inner) == 1 else "EXPLAIN with options"


def read_statements(sql: str) -> list[duckdb.Statement]:
    """The statements of `sql`, refusing all of them if any one is not a read."""
    statements = duckdb.extract_statements(sql)
    if not statements:
        raise QueryRefused("no SQL statement given")
    for statement in statements:
        kind = _kind(statement)
        if kind not in ("SELECT", "EXPLAIN SELECT"):
            snippet = " ".join(statement.query.split())[:60]
            raise QueryRefused(f"synth query runs read statements only ({READ_STATEMENTS}); refused {kind}: {snippet}")
    return statements


def read_only_catalog(warehouse: Location | str) -> duckdb.DuckDBPyConnection:
    """The catalog opened read-only, able to read files under the warehouse folder (or S3 prefix) and nowhere else."""
    path = catalog_file(warehouse)
    if not path.is_file():
        raise QueryRefused(f"no catalog at {path}: run a pipeline or `synth catalog --warehouse {warehouse}` first")
    con = duckdb.connect(str(path), read_only=True)
    try:
        root = warehouse_location(warehouse)
        attach_object_store(con, root)  # before access is locked: loading httpfs is itself an external access
        if is_remote(root):
            folders = [f"{root}/"]
        else:  # views name the warehouse as the run saw it; allow that spelling and the resolved one
            folders = sorted({f"{Path(warehouse).absolute()}/", f"{Path(warehouse).resolve()}/"})
        con.execute("set allowed_directories = ?", [folders])
        con.execute("set enable_external_access = false")  # cannot be turned back on; no INSTALL or LOAD either
        con.execute("set lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def error_line(exc: Exception, warehouse: Path) -> str:
    """DuckDB's one-line message (its first line: the rest is a caret under the SQL), with a hint on refused files."""
    lines = str(exc).strip().splitlines()
    line = lines[0] if lines else type(exc).__name__
    if isinstance(exc, duckdb.PermissionException):
        line += f" (synth query reads only files under {warehouse})"
    return line
