"""Logit distillation through the Dagster graph: a teacher that solves the seed problems and stores its top-k tokens
in SmolLM2's vocabulary, a train_set that carries them for its solutions, and a student whose manifest counts them."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dagster import AssetKey, AssetSelection, DagsterInstance, materialize

from spec_helpers import DATA, write_math_spec
from synth_assets.factory import build_definitions, observe_job_name
from synth_assets.inference.base import GenerationRequest, GenerationResult
from synth_assets.inference.resources import TeacherResource
from synth_assets.spec import load_spec
from synth_assets.storage.checkpoints import MANIFEST
from synth_assets.storage.export import export_frame

SMOLLM2 = "embedded:smollm2-135m-instruct"
# four of the shipped test seeds keep the two students' training to seconds
SEEDS = [json.loads(line) for line in (DATA / "math_seeds.jsonl").read_text().splitlines() if line.strip()][:4]
ANSWERS = {s["problem"]: s["answer"] for s in SEEDS}
# the teacher writes this one's first word letter by letter: the same text, other tokens than the student's
SPLIT = SEEDS[0]["problem"]


class SolvingBackend:
    """Answers each answer_augment prompt with a correct worked solution and top-3 tokens of it, as a backend stores them."""

    model_id = "solver@1"

    def __init__(self) -> None:
        from transformers import AutoTokenizer

        from synth_assets.models.embedded import local_model_dir

        self.tok = AutoTokenizer.from_pretrained(local_model_dir(SMOLLM2))

    def _ids(self, text: str, split: bool) -> list[int]:
        ids = list(self.tok(text, add_special_tokens=False)["input_ids"])
        if split:
            ids = [self.tok(c, add_special_tokens=False)["input_ids"][0] for c in self.tok.decode([ids[0]])] + ids[1:]
        return ids

    def _one(self, request: GenerationRequest) -> GenerationResult:
        problem = request.messages[-1][1].split("Problem: ", 1)[1].strip()
        text = f"Work it out step by step.\n#### {ANSWERS[problem]}"
        entries = []
        for t in self._ids(text, problem == SPLIT):
            top = [[self.tok.decode([t]), math.log(0.7)], [self.tok.decode([t + 1]), math.log(0.2)],
                   [self.tok.decode([t + 2]), math.log(0.05)]][: request.params.top_logprobs]
            entries.append([self.tok.decode([t]), math.log(0.7), top])
        return GenerationResult(text=text, token_logprobs=entries, tokens_in=len(problem.split()), tokens_out=len(entries))

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        return [self._one(r) for r in requests]


class SolvingTeacher(TeacherResource):
    model: str = "solver"

    def get_backend(self) -> Any:
        if self._backend is None:
            self._backend = SolvingBackend()
        return self._backend


@pytest.mark.slow
def test_logit_distillation_from_expansions_to_the_checkpoint_manifest(tmp_path: Path) -> None:
    # about 60 s on 2 idle CPU cores: two 2-step LoRA students on 4 and 8 short rows
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "kd_seeds.jsonl").write_text("".join(json.dumps(s) + "\n" for s in SEEDS))
    spec = load_spec(write_math_spec(
        tmp_path,
        seeds=[{"path": "data/kd_seeds.jsonl", "input": "problem", "target": "answer"}],
        strategies=[{"name": "answer_augment", "samples": 1, "top_logprobs": 3}],
        filters={"validity": {"max_length_ratio": 20.0}},
        student={"kind": "causal_lm", "max_steps": 2, "batch_size": 8, "max_length": 96, "learning_rate": 1e-3,
                 "distill": {"logits": True, "teacher_tokenizer": SMOLLM2}},
    ))
    warehouse = tmp_path / "warehouse"
    defs = build_definitions([spec], warehouse, teachers={spec.name: SolvingTeacher()})
    instance = DagsterInstance.ephemeral()
    defs.resolve_job_def(observe_job_name(spec.name)).execute_in_process(instance=instance)
    target = AssetKey([spec.name, "student_checkpoint"])
    assert materialize(list(defs.assets), instance=instance, resources=defs.resources,
                       selection=AssetSelection.assets(target).upstream().required_multi_asset_neighbors()).success

    train = pl.read_parquet(warehouse / spec.name / "train_set.parquet")
    solutions = train.filter(pl.col("origin") == "expansion")
    assert solutions.height == len(SEEDS) and solutions["teacher_token_logprobs"].is_not_null().all()
    assert train.filter(pl.col("origin") == "seed")["teacher_token_logprobs"].is_null().all()  # gold answers: CE only
    # the column is the teacher's stored tokens of the row, as expansions holds them
    expansions = pl.read_parquet(warehouse / spec.name / "expansions.parquet")
    joined = solutions.join(expansions.select("row_id", "token_logprobs"), on="row_id")
    assert (joined["teacher_token_logprobs"] == joined["token_logprobs"]).all()
    assert "teacher_token_logprobs" in export_frame(warehouse, spec.name, "train_set").columns

    checkpoints = pl.read_parquet(warehouse / spec.name / "student_checkpoint.parquet")
    manifests = {row["variant"]: json.loads((Path(row["path"]).parent / MANIFEST).read_text())
                 for row in checkpoints.iter_rows(named=True)}
    synthetic, seeds_only = manifests["synthetic"], manifests["seeds_only"]
    assert synthetic["config"]["logits"] is True
    assert (synthetic["n_kd_rows"], synthetic["n_kd_misaligned"]) == (len(SEEDS) - 1, 1)
    assert [p["step"] for p in synthetic["loss_curve"]] == [1, 2] and synthetic["loss_curve"][0]["kl"] is not None
    # the seeds alone have no teacher distribution: an SFT student, keyed as one
    assert "logits" not in seeds_only["config"] and seeds_only["n_kd_rows"] == 0
    assert all(p["kl"] is None for p in seeds_only["loss_curve"])
