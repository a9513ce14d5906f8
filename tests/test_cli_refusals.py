"""`synth run` as a user runs it, on the mistakes users make: a spec that cannot work is refused before
any compute (naming the field), and a teacher that cannot answer fails the run in the server's words."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from spec_helpers import write_spec

sys.path.insert(0, str(Path(__file__).resolve().parent / "inference"))
from openai_server import Fleet  # noqa: E402


def synth(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """The `synth` command in its own process, with the test's DAGSTER_HOME."""
    return subprocess.run([sys.executable, "-m", "synth_assets.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})))


def refused(tmp_path: Path, spec: Path, env: dict[str, str] | None = None) -> str:
    """Run the spec; it must exit 2 with nothing computed, and the message is returned."""
    done = synth("run", "--spec", str(spec), "--warehouse", str(tmp_path / "warehouse"), cwd=tmp_path, env=env)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert not (tmp_path / "warehouse").exists() or not list((tmp_path / "warehouse").rglob("*.parquet"))
    return done.stderr


@pytest.mark.parametrize(("prompt", "expected"), [
    ("Rewrite this review: {review}", "strategies.1.prompt: placeholder {review} is not one of the rephrase strategy's placeholders ({instruction}, {input})"),
    ("Rewrite {input", "strategies.1.prompt: not a valid template"),
    ("Rewrite the review in other words.", "strategies.1.prompt: the prompt never uses {input}"),
    ('Reply as JSON {"text": {input}}', 'strategies.1.prompt: placeholder {"text"} is not a plain name'),
])
def test_a_prompt_that_cannot_be_filled_is_refused(tmp_path: Path, prompt: str, expected: str) -> None:
    spec = write_spec(tmp_path, strategies=[{"name": "label"}, {"name": "rephrase", "prompt": prompt}])
    assert expected in refused(tmp_path, spec)


def test_literal_braces_are_written_doubled(tmp_path: Path) -> None:
    prompt = 'Rewrite it. Reply as JSON {{"text": "..."}}\n\n{input}'
    spec = write_spec(tmp_path, strategies=[{"name": "label"}, {"name": "rephrase", "prompt": prompt}])
    done = synth("run", "--spec", str(spec), "--warehouse", str(tmp_path / "warehouse"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    exp = pl.read_parquet(tmp_path / "warehouse" / "tiny" / "expansions.parquet").filter(pl.col("strategy") == "rephrase")
    seeds = pl.read_parquet(tmp_path / "warehouse" / "tiny" / "seeds.parquet").filter(pl.col("target").is_not_null())
    # every seed sent its own prompt (the fake teacher shuffles the prompt's last line: the seed's text)
    assert exp["raw_output"].n_unique() == exp.height == seeds.height


def test_a_judge_prompt_without_the_answer_is_refused(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, filters={"judge": {"enabled": True, "prompt": "Is this a good review? {input}"}})
    assert "filters.judge.prompt: the prompt never uses {target}" in refused(tmp_path, spec)


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "localhost:8000/v1", "ftp://127.0.0.1/v1", "http://127.0.0.1:80x0/v1"])
def test_a_server_url_without_scheme_or_port_is_refused(tmp_path: Path, url: str) -> None:
    spec = write_spec(tmp_path, teacher={"backend": "openai", "model": "m", "base_urls": [url]})
    msg = refused(tmp_path, spec)
    assert f"teacher.base_urls.0: {url!r}" in msg and "http(s)://host[:port][/path]" in msg


def test_an_unset_key_variable_is_refused_at_load(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, teacher={"backend": "openai", "model": "m", "base_urls": ["http://127.0.0.1:9/v1"],
                                         "api_key_env": "SYNTH_TEST_UNSET_KEY"})
    env = {k: v for k, v in os.environ.items() if k != "SYNTH_TEST_UNSET_KEY"}
    msg = refused(tmp_path, spec, env=env)
    assert "teacher.api_key_env: the environment variable 'SYNTH_TEST_UNSET_KEY' is unset or empty" in msg


def test_the_eval_file_cannot_also_be_a_seed_file(tmp_path: Path) -> None:
    write_spec(tmp_path)  # puts data/seeds.csv and data/test.csv beside the spec
    spec = write_spec(tmp_path, seeds=[{"path": "data/seeds.csv", "input": "review", "target": "score"},
                                       {"path": "data/test.csv", "input": "review"}])
    assert "eval.path: 'data/test.csv' is also seeds.1.path" in refused(tmp_path, spec)


def test_sources_outside_the_spec_folder_are_refused_unless_allowed(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    write_spec(project)  # copies the data beside the spec
    (project / "data" / "pool.csv").rename(outside / "pool.csv")
    for path in ("../elsewhere/pool.csv", str(outside / "pool.csv"), "/etc/passwd"):
        spec = write_spec(project, seeds=[{"path": "data/seeds.csv", "input": "review", "target": "score"},
                                          {"path": path, "input": "review"}])
        msg = refused(project, spec)
        assert f"seeds.1.path: {path!r} resolves to" in msg and "outside the folders a spec may read" in msg
        assert "SYNTH_DATA_ROOTS=" in msg
    # widened explicitly, the same spec runs
    spec = write_spec(project, seeds=[{"path": "data/seeds.csv", "input": "review", "target": "score"},
                                      {"path": "../elsewhere/pool.csv", "input": "review"}])
    done = synth("run", "--spec", str(spec), "--warehouse", str(project / "warehouse"), cwd=project,
                 env={"SYNTH_DATA_ROOTS": str(outside)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    seeds = pl.read_parquet(project / "warehouse" / "tiny" / "seeds.parquet")
    assert seeds.filter(pl.col("source_file") == str(outside / "pool.csv")).height > 0


@pytest.fixture
def fleet():
    f = Fleet(n=1)
    yield f
    f.close()


def _http_spec(tmp_path: Path, urls: list[str], **overrides) -> Path:
    return write_spec(tmp_path, teacher={"backend": "openai", "model": "m", "base_urls": urls, "batch_size": 4,
                                         "concurrency": 4, "timeout_s": 5}, **overrides)


def test_a_dead_teacher_fails_the_run_with_its_own_error(tmp_path: Path) -> None:
    spec = _http_spec(tmp_path, ["http://127.0.0.1:9/v1"])  # nothing listens on port 9
    done = synth("run", "--spec", str(spec), "--warehouse", str(tmp_path / "warehouse"), cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert "step tiny__expansions failed: synth_assets.inference.errors.TeacherUnavailableError: teacher openai:m: " \
           "all 4 first calls failed, so the other 48 were not sent: gave up after 6 attempts; " \
           "last: ConnectError talking to http://127.0.0.1:9/v1" in done.stdout
    assert "\nFAILED:" in done.stdout and "succeeded" not in done.stdout
    assert not (tmp_path / "warehouse" / "tiny" / "expansions.parquet").exists()


def test_a_teacher_without_logprobs_fails_label_scoring_at_once(tmp_path: Path, fleet: Fleet) -> None:
    # the test server answers without logprobs when the prompt says [nologprobs]
    spec = _http_spec(tmp_path, fleet.urls, instruction="Is this review enthusiastic? [nologprobs]",
                      strategies=[{"name": "label"}])
    done = synth("run", "--spec", str(spec), "--warehouse", str(tmp_path / "warehouse"), cwd=tmp_path)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "server returned no logprobs; choice scoring needs an engine that supports logprobs (4)" in done.stdout
    assert len(fleet.records) == 4  # the probe batch only: nothing else was sent


def test_an_error_share_above_the_gate_fails_the_run_naming_the_errors(tmp_path: Path, fleet: Fleet) -> None:
    # half of the pool's rows make the server answer 400 (not retried); labelled seeds and eval rows answer
    spec = _http_spec(tmp_path, fleet.urls, strategies=[{"name": "label"}], checks={"max_error_rate": 0.1})
    pool = tmp_path / "data" / "pool.csv"
    rows = pl.read_csv(pool)
    rows.with_columns(pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.col("review") + " [400]")
                      .otherwise(pl.col("review")).alias("review")).write_csv(pool)
    done = synth("run", "--spec", str(spec), "--warehouse", str(tmp_path / "warehouse"), cwd=tmp_path)
    assert done.returncode == 1, done.stdout[-3000:]
    failed = (rows.height + 1) // 2
    assert "check tiny/expansions teacher_errors: " in done.stdout
    assert f"{failed} of " in done.stdout and "above checks.max_error_rate 10%" in done.stdout
    assert f"HTTP 400 from {fleet.urls[0]} (not retried)" in done.stdout and f"({failed})" in done.stdout
    # the table is kept (the calls that answered are paid for), but nothing downstream trained on it
    assert (tmp_path / "warehouse" / "tiny" / "expansions.parquet").exists()
    assert not (tmp_path / "warehouse" / "tiny" / "train_set.parquet").exists()

    # within the gate, the same data runs, and the errors are named as a warning
    relaxed = _http_spec(tmp_path, fleet.urls, strategies=[{"name": "label"}], checks={"max_error_rate": 0.9})
    done = synth("run", "--spec", str(relaxed), "--warehouse", str(tmp_path / "warehouse"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "\nwarnings:\n  warning tiny/expansions teacher_errors: " in done.stdout
    assert "within checks.max_error_rate 90%" in done.stdout and (tmp_path / "warehouse" / "tiny" / "train_set.parquet").exists()


def test_eval_calls_that_all_failed_score_null_not_zero(tmp_path: Path, fleet: Fleet) -> None:
    spec = _http_spec(tmp_path, fleet.urls, strategies=[{"name": "label"}])
    test = tmp_path / "data" / "test.csv"
    pl.read_csv(test).with_columns(pl.col("review") + " [nologprobs]").write_csv(test)
    done = synth("run", "--spec", str(spec), "--warehouse", str(tmp_path / "warehouse"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    scores = pl.read_parquet(tmp_path / "warehouse" / "tiny" / "eval_scores.parquet")
    teacher = scores.filter(pl.col("model") == "teacher")
    n_eval = pl.read_csv(test).height
    assert teacher["value"].null_count() == teacher.height == 2
    assert teacher["n_errors"].to_list() == [n_eval, n_eval] and teacher["n"].to_list() == [0, 0]
    students = scores.filter(pl.col("model").str.starts_with("student"))
    assert students["value"].null_count() == 0 and (students["n_errors"] == 0).all()
    assert f"teacher (round 0): {n_eval} of {n_eval} eval rows have no prediction, so its scores are null: " \
           "server returned no logprobs" in done.stdout
    done = synth("query", "--warehouse", str(tmp_path / "warehouse"),
                 "select rows, errors from tiny.costs where strategy = 'eval'", cwd=tmp_path)
    assert done.returncode == 0 and f"{n_eval}" in done.stdout


def test_seed_rows_that_are_eval_items_never_reach_the_teacher(tmp_path: Path) -> None:
    write_spec(tmp_path)  # the data beside the spec
    data = tmp_path / "data"
    test = pl.read_csv(data / "test.csv")
    # two eval reviews copied into the labelled seeds (one re-spaced and re-cased), one into the pool
    seeds = pl.read_csv(data / "seeds.csv")
    leaked = test.head(2).with_columns(pl.Series("review", [test["review"][0], "  " + test["review"][1].upper() + " "]))
    pl.concat([seeds, leaked.select(seeds.columns)]).write_csv(data / "seeds.csv")
    pool = pl.read_csv(data / "pool.csv")
    pl.concat([pool, test.slice(2, 1).select(pool.columns)]).write_csv(data / "pool.csv")
    spec = write_spec(tmp_path)
    done = synth("run", "--spec", str(spec), "--warehouse", str(tmp_path / "warehouse"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "3 also an eval item" in done.stdout
    wh = tmp_path / "warehouse" / "tiny"
    quarantine = pl.read_parquet(wh / "quarantine.parquet").filter(pl.col("reason").str.starts_with("also an eval item"))
    assert sorted(quarantine["source_row"].to_list()) == [seeds.height, seeds.height + 1, pool.height]
    assert quarantine["reason"].str.contains("test.csv row ").all()
    items = set(test["review"].str.to_lowercase().str.strip_chars())
    sent = pl.read_parquet(wh / "expansions.parquet")
    seeds_seen = pl.read_parquet(wh / "seeds.parquet")
    assert not seeds_seen["input"].str.to_lowercase().is_in(list(items)).any()
    assert sent["seed_id"].is_in(seeds_seen["seed_id"].implode()).all()
