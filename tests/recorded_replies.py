"""Real SmolLM2-135M replies to each strategy's prompt (tests/data/smollm2_replies.json, made by
scripts/record_strategy_replies.py), and the specs those prompts were rendered from."""

from __future__ import annotations

import json
from pathlib import Path

from spec_helpers import DATA, write_math_spec, write_spec
from synth_assets.inference.base import GenerationResult
from synth_assets.spec import PipelineSpec, StrategySpec, load_spec
from synth_assets.strategies import STRATEGIES, Seed

FIXTURE = json.loads((DATA / "smollm2_replies.json").read_text(encoding="utf-8"))


def records(strategy: str, task: str) -> list[dict]:
    found = [r for r in FIXTURE["records"] if r["strategy"] == strategy and r["task"] == task]
    assert found, f"no recorded {task} replies for {strategy}; rerun scripts/record_strategy_replies.py"
    return found


def spec_for(task: str, tmp_path: Path) -> PipelineSpec:
    """The spec the recorder rendered prompts from (tests/conftest's tiny specs)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    return load_spec(write_math_spec(tmp_path) if task == "math" else write_spec(tmp_path))


def seed_of(record: dict) -> Seed:
    s = record["seed"]
    return Seed(s["seed_id"], s["input"], s["target"], s.get("prediction"))


def rendered_prompt(spec: PipelineSpec, record: dict) -> list[list[str]]:
    """Today's prompt for the recorded case, to compare with the recorded one."""
    name = record["strategy"]
    req = STRATEGIES[name].request(spec, StrategySpec(name=name, max_new_tokens=256), seed_of(record), 0)
    return [list(m) for m in req.messages]


def reply(record: dict) -> GenerationResult:
    return GenerationResult(text=record["reply"])
