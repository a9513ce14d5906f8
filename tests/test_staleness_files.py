"""Staleness sees the files: `synth status` names a table that is missing, unreadable or changed outside
synth, `synth run --stale` recomputes it, one bad file does not stop the run, and status shows what a
stale table may make stale downstream."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline_helpers import run_pipeline
from spec_helpers import write_spec
from synth_assets.hashing import frame_hash
from synth_assets.spec import load_spec
from test_cli_refusals import synth


def _materialised(tmp_path: Path) -> tuple[Path, Path]:
    """The tiny pipeline run once (in this test's Dagster home); its spec and its warehouse folder."""
    spec = write_spec(tmp_path)
    assert run_pipeline(load_spec(spec), tmp_path / "warehouse").success
    return spec, tmp_path / "warehouse"


def _status(spec: Path, warehouse: Path) -> str:
    done = synth("status", "--spec", str(spec), "--warehouse", str(warehouse), cwd=spec.parent)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _run_stale(spec: Path, warehouse: Path) -> tuple[str, str]:
    done = synth("run", "--stale", "--spec", str(spec), "--warehouse", str(warehouse), cwd=spec.parent)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout, done.stderr


def _line(key: str, label: str) -> str:
    return f"{key:<32} {label}\n"


def test_missing_and_unreadable_tables_are_named_stale_and_recomputed(tmp_path: Path) -> None:
    spec, warehouse = _materialised(tmp_path)
    seeds, expansions = warehouse / "tiny" / "seeds.parquet", warehouse / "tiny" / "expansions.parquet"
    seeds.unlink()
    expansions.write_bytes(expansions.read_bytes()[: expansions.stat().st_size // 2])  # truncated, as by a full disk

    out = _status(spec, warehouse)
    assert _line("tiny/seeds", "stale") + f"    because tiny/seeds: file missing ({seeds})\n" in out
    assert (_line("tiny/expansions", "stale") + f"    because tiny/expansions: file unreadable ({expansions}: "
            "parquet: File out of specification: The file must end with PAR1)\n") in out
    assert _line("tiny/filtered", "stale (upstream tiny/expansions changed, tiny/seeds changed)") in out
    assert "\n2 of 9 assets need a run; 5 downstream may follow if their inputs change (synth run --stale)\n" in out

    stdout, stderr = _run_stale(spec, warehouse)
    assert "materialising stale: tiny/seeds, tiny/expansions\n" in stdout
    # ingest refreshes the catalog while expansions is still truncated: the file is named and left out, the step goes on
    assert f"catalog: {expansions} left out of view tiny.expansions: the file is unreadable" in stderr
    assert pl.read_parquet(seeds).height > 0 and pl.read_parquet(expansions).height > 0
    assert "\n0 of 9 assets need a run (synth run --stale)\n" in _status(spec, warehouse)


def test_a_table_changed_outside_synth_is_restored_and_an_identical_rewrite_is_fresh(tmp_path: Path) -> None:
    spec, warehouse = _materialised(tmp_path)
    train, filtered = warehouse / "tiny" / "train_set.parquet", warehouse / "tiny" / "filtered.parquet"
    written = frame_hash(pl.read_parquet(train))
    pl.read_parquet(train).head(3).write_parquet(train)  # a user's edit
    pl.read_parquet(filtered).write_parquet(filtered, compression="snappy")  # other bytes and mtime, same rows

    out = _status(spec, warehouse)
    assert _line("tiny/train_set", "stale") + f"    because tiny/train_set: file changed outside synth ({train})\n" in out
    assert _line("tiny/filtered", "fresh") in out
    assert _line("tiny/student_checkpoint", "stale (upstream tiny/train_set changed)") in out

    stdout, _ = _run_stale(spec, warehouse)
    # train_set is recomputed with the content its children were built from, so they stay fresh: one wave
    assert stdout.count("materialising stale:") == 1 and "materialising stale: tiny/train_set\n" in stdout
    assert frame_hash(pl.read_parquet(train)) == written
    assert "\n0 of 9 assets need a run (synth run --stale)\n" in _status(spec, warehouse)


def test_status_shows_what_a_seed_edit_may_make_stale_downstream(tmp_path: Path) -> None:
    spec, warehouse = _materialised(tmp_path)
    with open(tmp_path / "data" / "seeds.csv", "a") as fh:
        fh.write("A brand new review: these crackers are the best I have ever had,great\n")

    out = _status(spec, warehouse)
    assert _line("tiny/seeds", "stale") + "    because tiny/seed_files: has a new data version\n" in out
    assert _line("tiny/expansions", "stale (upstream tiny/seeds changed)") in out
    assert _line("tiny/eval_scores", "stale (upstream tiny/eval_set changed, tiny/seeds changed)") in out
    assert "\n3 of 9 assets need a run; 6 downstream may follow if their inputs change (synth run --stale)\n" in out
