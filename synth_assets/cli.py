"""`synth`: run pipelines, summarise the warehouse, query it, open the UI. Thin wrappers over Dagster."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from synth_assets.spec import SpecError
from synth_assets.storage.lease import IF_BUSY, IF_BUSY_ENV
from synth_assets.storage.location import Location, parquet_rows, source, warehouse_location

SUMMARY_TABLES = ("seeds", "quarantine", "expansions", "judgements", "filtered", "train_set", "student_checkpoint", "eval_scores")


def _specs_and_warehouse(args: argparse.Namespace):
    from synth_assets.factory import default_spec_paths
    from synth_assets.spec import load_spec

    paths = [Path(p) for p in args.spec] if args.spec else default_spec_paths()
    warehouse = warehouse_location(args.warehouse)
    return [load_spec(p) for p in paths], warehouse


def cmd_run(args: argparse.Namespace) -> int:
    """Materialise every asset of the pipelines, or with --stale only what changed upstream data made stale."""
    from functools import partial

    from dagster import DagsterInstance

    from synth_assets.factory import build_definitions
    from synth_assets.instance import ensure_dagster_home
    from synth_assets.runs import fail_dead_runs, materialize_all, materialize_stale

    specs, warehouse = _specs_and_warehouse(args)
    ensure_dagster_home()
    if args.if_busy:  # read by every step's lease, in this process and in the shard workers
        os.environ[IF_BUSY_ENV] = args.if_busy
    fail_dead_runs(DagsterInstance.get())
    defs = build_definitions(specs, warehouse)
    started = time.perf_counter()
    run = materialize_stale if args.stale else materialize_all
    # shards of a sharded pipeline run as parallel Dagster runs; workers rebuild the same definitions
    outcome = run(defs, [s.name for s in specs], DagsterInstance.get(),
                  rebuild=partial(build_definitions, specs, warehouse), workers=args.workers)
    ok, materialised = outcome.success, outcome.materialised
    if args.stale and materialised == 0:
        print("nothing is stale")
    from synth_assets.storage.catalog import catalog_file

    elapsed = time.perf_counter() - started
    for spec in specs:
        print_summary(warehouse, spec.name)
    if outcome.failures:
        print("\nwhat failed:" if not ok else "\nwarnings:")
        for line in outcome.failures:
            print(f"  {line}")
    print(f"\n{'succeeded' if ok else 'FAILED'}: {materialised} asset materialisations in {elapsed:.0f} s. Explore with:")
    print(f"  duckdb -readonly {catalog_file(warehouse)}   (or: synth query \"select * from {specs[0].name}.eval_scores\")")
    return 0 if ok else 1


def cmd_status(args: argparse.Namespace) -> int:
    """Which assets are stale and the upstream change that made them so."""
    from dagster import DagsterInstance

    from synth_assets.factory import build_definitions
    from synth_assets.instance import ensure_dagster_home
    from synth_assets.runs import fail_dead_runs, observe_and_states

    specs, warehouse = _specs_and_warehouse(args)
    ensure_dagster_home()
    fail_dead_runs(DagsterInstance.get())
    defs = build_definitions(specs, warehouse)
    states = observe_and_states(defs, [s.name for s in specs], DagsterInstance.get())
    for state in states:
        print(f"{state.key.to_user_string():<32} {state.label}")
        for cause in state.causes:
            print(f"    because {cause}")
    now, later = sum(s.needs_run for s in states), sum(s.may_need_run for s in states)
    print(f"\n{now} of {len(states)} assets need a run" + (f"; {later} downstream may follow if their inputs change" if later else "")
          + " (synth run --stale)")
    return 0


def _round_numbers(base: Location) -> list[int]:
    """The rounds a pipeline has materialised (train_set_r<r>.parquet present)."""
    found = (re.fullmatch(r"train_set_r(\d+)", p.stem) for p in base.glob("train_set_r*.parquet"))
    return sorted(int(m.group(1)) for m in found if m)


def _read(path: Location, columns: list[str] | None = None):
    """A table for the summary, or None when it is missing or unreadable (`synth status` names it; --stale redoes it)."""
    import polars as pl

    if not path.exists():
        return None
    try:
        return pl.read_parquet(source(path), columns=columns)
    except Exception:  # noqa: BLE001 (a truncated or foreign file: the summary shows it, it never crashes)
        return None


def print_summary(warehouse: Location, pipeline: str) -> None:
    """Row counts per stage, one line per round, and every model's scores, read from Parquet (the source of truth)."""
    import polars as pl

    from synth_assets.evaluation.scoring import score_errors

    base = warehouse / pipeline

    def rows(table: str) -> int | str:
        path = base / f"{table}.parquet"
        if not path.exists():
            return "-"
        try:
            return parquet_rows(path)
        except Exception:  # noqa: BLE001
            return "unreadable"

    print(f"\n== {pipeline} ({base})")
    for table in SUMMARY_TABLES:
        print(f"  {table:<20} {rows(table):>8} rows")
        quarantine = _read(base / "quarantine.parquet", ["reason"]) if table == "quarantine" else None
        if quarantine is not None:
            # why rows were set aside, by kind: the file rows themselves are in the table
            kinds = quarantine["reason"].str.split(" (").list.first()
            for kind, n in sorted(kinds.value_counts().iter_rows(), key=lambda kv: -kv[1]):
                print(f"    {n:>6} {kind}")
    rounds = _round_numbers(base)
    for r in rounds:
        filtered = _read(base / f"filtered_r{r}.parquet", ["accepted"])
        accepted = int(filtered["accepted"].sum()) if filtered is not None else "-"
        print(f"  round {r}: {rows(f'student_errors_r{r}')} student errors, {rows(f'active_pool_r{r}')} active pool rows -> "
              f"{rows(f'expansions_r{r}')} teacher rows, {accepted} accepted; train_set_r{r} {rows(f'train_set_r{r}')} rows")
    tables = [_read(p) for p in [base / "eval_scores.parquet", *(base / f"eval_scores_r{r}.parquet" for r in rounds)]]
    tables = [t for t in tables if t is not None]
    if tables:
        scores = pl.concat([t.select("round", "model", "metric", "value") for t in tables])
        df = scores.pivot(on="metric", index=["round", "model"], values="value")
        with pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True, float_precision=3, tbl_rows=50):
            print(df)
        for line in score_errors(pl.concat(tables, how="diagonal_relaxed")):
            print(f"  {line}")


def cmd_summary(args: argparse.Namespace) -> int:
    specs, warehouse = _specs_and_warehouse(args)
    for spec in specs:
        print_summary(warehouse, spec.name)
    return 0


def cmd_catalog(args: argparse.Namespace) -> int:
    from synth_assets.storage.catalog import refresh_catalog

    warehouse = warehouse_location(args.warehouse)
    return 0 if refresh_catalog(warehouse) else 1


def cmd_query(args: argparse.Namespace) -> int:
    """Read-only SQL over the catalog; never blocks, breaks or rewrites a running pipeline's tables."""
    import duckdb

    from synth_assets.storage.query import QueryRefused, error_line, read_only_catalog, read_statements

    warehouse = warehouse_location(args.warehouse)
    try:
        statements = read_statements(args.sql)  # all checked before any runs
        with read_only_catalog(warehouse) as con:
            for statement in statements:
                result = con.sql(statement.query)
                if result is not None:
                    print(result)
    except (QueryRefused, duckdb.Error) as exc:
        print(f"error: {error_line(exc, warehouse)}", file=sys.stderr)
        return 2
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """train_set (with lineage) and optionally filtered, as JSONL files or Hugging Face datasets on disk."""
    from synth_assets.storage.export import ExportError, export_tables

    warehouse = warehouse_location(args.warehouse)
    tables = ["train_set", *(["filtered"] if args.include_filtered else [])]
    try:
        manifest = export_tables(warehouse, args.pipeline, tables, args.format, Path(args.out))
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for table, info in manifest["tables"].items():
        print(f"{table:<10} {info['rows']:>8} rows -> {Path(args.out) / info['path']}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """`dagster dev` on the same definitions and instance as the CLI."""
    from synth_assets.instance import ensure_dagster_home

    ensure_dagster_home()
    root = Path(__file__).resolve().parents[1]
    target = root / "definitions.py"
    cmd = [sys.executable, "-m", "dagster", "dev", "-f", str(target), "-h", args.host, "-p", str(args.port)]
    os.execv(sys.executable, cmd)
    return 0


# commands on the warehouse first add the views a run could not write while a user held the catalog file
CATALOG_COMMANDS = ("run", "status", "summary", "query")


def _catch_up_catalog(args: argparse.Namespace) -> None:
    from synth_assets.storage.catalog import refresh_if_behind

    refresh_if_behind(warehouse_location(args.warehouse))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="synth", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, fn, helptext in (
        ("run", cmd_run, "materialise every asset of the pipeline(s)"),
        ("status", cmd_status, "which assets are stale, and why"),
        ("summary", cmd_summary, "row counts per stage and eval scores"),
        ("catalog", cmd_catalog, "re-create the DuckDB views over the warehouse"),
        ("query", cmd_query, "run read-only SQL (SELECT, WITH, EXPLAIN, DESCRIBE, SHOW) against warehouse/synth.duckdb"),
        ("export", cmd_export, "write train_set (and filtered) as JSONL or a Hugging Face dataset"),
        ("ui", cmd_ui, "open the Dagster UI (dagster dev) on these pipelines"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.set_defaults(fn=fn)
        p.add_argument("--warehouse", help="warehouse folder or s3://bucket/prefix (default: $SYNTH_WAREHOUSE or ./warehouse)")
        if name in ("run", "summary", "status"):
            p.add_argument("--spec", action="append", help="pipeline spec YAML (repeatable; default: shipped examples)")
        if name == "run":
            p.add_argument("--stale", action="store_true", help="only what is stale or missing (repeats until nothing is)")
            p.add_argument("--workers", type=int, default=None,
                           help="processes for the shards of a sharded pipeline (default: one per CPU, at most one per shard)")
            p.add_argument("--if-busy", choices=IF_BUSY, default=None,
                           help="when another run is materialising the same asset: wait for it and reuse its cached work "
                                f"(default, or ${IF_BUSY_ENV}), or stop with a message naming that run")
        if name == "export":
            p.add_argument("--pipeline", required=True, help="pipeline name (its folder in the warehouse)")
            p.add_argument("--format", choices=("jsonl", "hf"), default="jsonl", help="jsonl files or HF `datasets` folders")
            p.add_argument("--out", required=True, help="folder to write into (created if missing)")
            p.add_argument("--include-filtered", action="store_true", help="also export filtered: every expansion with its verdicts")
        if name == "query":
            p.add_argument("sql", help="read statements only; files outside the warehouse folder are out of reach")
        if name == "ui":
            p.add_argument("--host", default="127.0.0.1")
            p.add_argument("--port", type=int, default=3000)
    args = parser.parse_args(argv)
    if args.command in CATALOG_COMMANDS:
        _catch_up_catalog(args)
    try:
        return args.fn(args)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
