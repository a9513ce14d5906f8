"""Seed files as people really save them, run through `synth run`: spreadsheet BOMs, JSON scalars,
an unclosed quote; and a warehouse others can read under a shared umask."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from spec_helpers import DATA, write_spec

SYNTH = Path(sys.executable).parent / "synth"
SCALARS = [{"review": 12345, "score": "great"}, {"review": 3.14, "score": "other"}, {"review": True, "score": "great"},
           {"review": "Tasty and fresh, would buy these again", "score": "great"}]
UNCLOSED = ("review,score\n"
            "Crunchy and fresh every time,great\n"
            '"Stale and broken on arrival,other\n'
            "Arrived fine and tasted good,great\n")


@dataclass
class Run:
    warehouse: Path
    export: Path
    files: dict[str, Path]

    def table(self, name: str) -> pl.DataFrame:
        return pl.read_parquet(self.warehouse / "tiny" / f"{name}.parquet")

    def quarantined(self, file: str) -> dict[int, str]:
        q = self.table("quarantine").filter(pl.col("source_file") == str(self.files[file]))
        return dict(zip(q["source_row"], q["reason"]))


def _synth(*args: str, home: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    result = subprocess.run([str(SYNTH), *args], capture_output=True, text=True, env=env, umask=0o002, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One `synth run` (and `synth export`) under umask 002 of a spec whose seeds hold every case."""
    tmp = tmp_path_factory.mktemp("inputs")
    files = {"bom.csv": tmp / "bom.csv", "scalars.jsonl": tmp / "scalars.jsonl", "unclosed.csv": tmp / "unclosed.csv"}
    # "CSV UTF-8" from a spreadsheet: a BOM before the header; the JSONL too
    files["bom.csv"].write_bytes(b"\xef\xbb\xbf" + (DATA / "seeds.csv").read_bytes())
    files["scalars.jsonl"].write_text("\ufeff" + "".join(json.dumps(r) + "\n" for r in SCALARS), encoding="utf-8")
    files["unclosed.csv"].write_text(UNCLOSED, encoding="utf-8")
    seeds = [{"path": str(files["bom.csv"]), "input": "review", "target": "score"},
             {"path": str(files["scalars.jsonl"]), "input": "review", "target": "score"},
             {"path": str(files["unclosed.csv"]), "input": "review", "target": "score"},
             {"path": str(DATA / "pool.csv"), "input": "review"}]
    spec = write_spec(tmp, seeds=seeds)
    home = tmp / "dagster_home"
    home.mkdir()
    warehouse, export = tmp / "warehouse", tmp / "export"
    _synth("run", "--spec", str(spec), "--warehouse", str(warehouse), home=home)
    _synth("export", "--warehouse", str(warehouse), "--pipeline", "tiny", "--out", str(export), home=home)
    return Run(warehouse, export, files)


def test_csv_and_jsonl_with_a_bom_read_like_without(run: Run) -> None:
    seeds = run.table("seeds")
    from_bom = seeds.filter(pl.col("source_file") == str(run.files["bom.csv"]))
    plain = pl.read_csv(DATA / "seeds.csv")
    assert sorted(from_bom["input"]) == sorted(t.strip() for t in plain["review"])
    assert run.quarantined("bom.csv") == {}
    assert not any("BOM" in r or "invalid JSON" in r for r in run.quarantined("scalars.jsonl").values())


def test_json_numbers_and_booleans_are_quarantined_not_seeds(run: Run) -> None:
    assert run.quarantined("scalars.jsonl") == {0: "column 'review' holds a number, not text",
                                                1: "column 'review' holds a number, not text",
                                                2: "column 'review' holds a boolean, not text"}
    from_jsonl = run.table("seeds").filter(pl.col("source_file") == str(run.files["scalars.jsonl"]))
    assert from_jsonl["input"].to_list() == ["Tasty and fresh, would buy these again"]


def test_unclosed_quote_names_the_file_and_the_line_it_opened(run: Run) -> None:
    reasons = run.quarantined("unclosed.csv")
    assert list(reasons) == [1], reasons
    assert reasons[1].startswith(f"unclosed quote: the quoted field opened on line 3 of {run.files['unclosed.csv']} never closes"), reasons
    # the rows it swallowed are kept in the quarantined row, not lost
    raw = run.table("quarantine").filter(pl.col("source_file") == str(run.files["unclosed.csv"]))["raw"][0]
    assert "Arrived fine and tasted good" in raw
    from_file = run.table("seeds").filter(pl.col("source_file") == str(run.files["unclosed.csv"]))
    assert from_file["input"].to_list() == ["Crunchy and fresh every time"]


def test_warehouse_and_export_files_follow_the_umask(run: Run) -> None:
    paths = [p for root in (run.warehouse, run.export) for p in [root, *root.rglob("*")]]
    kinds = {"tables": "tiny/seeds.parquet", "teacher cache": "_cache/teacher/", "checkpoints": "_checkpoints/",
             "catalog": "synth.duckdb"}
    for kind, part in kinds.items():  # every kind of file is there to check
        assert any(part in str(p.relative_to(run.warehouse)) for p in paths if p.is_relative_to(run.warehouse)), kind
    wrong = {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in paths
             if stat.S_IMODE(p.stat().st_mode) != (0o775 if p.is_dir() else 0o664)}
    assert wrong == {}
