"""Record real SmolLM2-135M replies to every strategy's and the judge's prompts, for the parser tests.

The fixture (tests/data/smollm2_replies.json) holds each prompt and the model's reply; the tests
check that today's templates still render those prompts and that the parsers handle those replies.
Rerun after changing a template: `PYTHONPATH=. python scripts/record_strategy_replies.py [--only STRATEGY]`
(--only re-records one strategy's cases and keeps every other record as it was).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from spec_helpers import write_math_spec, write_spec  # noqa: E402

from synth_assets.filters.judge import judge_request, wrong_target  # noqa: E402
from synth_assets.inference.transformers_backend import TransformersBackend  # noqa: E402
from synth_assets.spec import StrategySpec, load_spec  # noqa: E402
from synth_assets.strategies import STRATEGIES, Seed  # noqa: E402

OUT = ROOT / "tests" / "data" / "smollm2_replies.json"
MODEL = "embedded:smollm2-135m-instruct"
MATH_SEEDS = [
    ("m1", "Sarah had some trucks. She gave 13 to Jeff, and now she has 38 trucks left. How many trucks did Sarah have to start with?", "51"),
    ("m2", "There are 43 dogs, 72 fish, and 34 cats at my farm. How many pets do I have at my farm?", "149"),
]
TEXT_SEEDS = [
    ("c1", "I have been drinking this tea for years. I cannot get enough. Really great tasting and perfect with chocolate!", "great"),
    ("c2", "The chips arrived stale and half of them were broken. Not buying again.", "other"),
]


def cases(tmp: Path) -> list[dict]:
    """Every (spec, strategy, seed) prompt to record, with its rendered request."""
    for sub in ("c", "m"):
        (tmp / sub).mkdir()
    specs = {"classification": load_spec(write_spec(tmp / "c")), "math": load_spec(write_math_spec(tmp / "m"))}
    plan = [
        ("math", "answer_augment", MATH_SEEDS, None),
        ("math", "new_question", MATH_SEEDS, None),
        ("math", "revthink", MATH_SEEDS, None),
        ("math", "rationale", MATH_SEEDS[:1], None),
        ("math", "error_driven", MATH_SEEDS[:1], "38"),
        ("classification", "rationale", TEXT_SEEDS, None),
        ("classification", "error_driven", TEXT_SEEDS[:1], "other"),
        ("classification", "hard_negative", TEXT_SEEDS, None),
    ]
    out = []
    for task, name, seeds, prediction in plan:
        spec = specs[task]
        for seed_id, text, target in seeds:
            seed = Seed(seed_id, text, target, prediction)
            req = STRATEGIES[name].request(spec, StrategySpec(name=name, max_new_tokens=256), seed, 0)
            out.append({"task": task, "strategy": name, "seed": seed.__dict__, "request": req})
    for task, seeds in (("classification", TEXT_SEEDS), ("math", MATH_SEEDS)):
        spec = specs[task]
        for seed_id, text, target in seeds:
            for correct, shown in ((True, target), (False, wrong_target(spec, seed_id, target))):
                out.append({"task": task, "strategy": "judge", "seed": {"seed_id": seed_id, "input": text, "target": shown},
                            "correct": correct, "request": judge_request(spec, text, shown)})
    return out


def main() -> None:
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    with tempfile.TemporaryDirectory() as tmp:
        planned = [c for c in cases(Path(tmp)) if only is None or c["strategy"] == only]
    kept = [r for r in json.loads(OUT.read_text(encoding="utf-8"))["records"] if r["strategy"] != only] if only else []
    backend = TransformersBackend(MODEL, batch_size=8)
    results = backend.generate([c["request"] for c in planned])
    records = kept
    for case, result in zip(planned, results):
        req = case.pop("request")
        records.append({**case, "messages": [list(m) for m in req.messages], "params": req.params.as_dict(),
                        "reply": result.text, "error": result.error})
    OUT.write_text(json.dumps({"model": backend.model_id, "records": records}, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(records)} replies -> {OUT}")


if __name__ == "__main__":
    main()
