"""Eval decontamination: a training row that contains an eval item, even lightly edited, is rejected.

A row is contaminated by an eval item when any of these holds (text normalised: lowercase,
punctuation dropped, words split on whitespace):
1. they share a word n-gram of `ngram` words (13 by default): the overlap test of GPT-3
   (Brown et al., "Language Models are Few-Shot Learners", 2020, appendix C);
2. at least `min_containment` of the eval item's distinct `containment_ngram`-grams (5 words)
   occur in the row, and so do at least `min_word_containment` (90 %) of its words, every one of
   them when the item has fewer than `ngram` words (a word counts where a 3-word run of the item
   around it is in the row). This catches an eval item pasted into a row with a word or two
   changed, which breaks every 13-gram of a short item (one changed word in a 20-word review leaves
   ~60 % of its 5-grams, none of its 13-grams). The word test tells a leak from a template
   sibling: "What is the forecast for Mexican Hat, New Hampshire?" holds one of the two 5-grams of
   "What is the forecast for Niger?" but not its slot word. Short templated texts (intents,
   commands, queries) differ from their siblings by a slot value, so an item under 13 words must
   be in the row whole;
3. the eval item has fewer than `containment_ngram` words (no 5-gram to compare) and the row's
   normalised text equals it: for very short items only an exact match is evidence, since two
   words in common prove nothing;
4. optionally, cosine similarity of sentence embeddings >= `embedding_threshold` (paraphrases).
The asset check on train_set runs the same test over every training row, labelled seeds included.
In `filtered` it runs before the dedups: a row that contains an eval item is never the kept copy of a
duplicate group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np
import polars as pl

from synth_assets.filters.embeddings import MissingEmbedderError, TextEmbedder
from synth_assets.filters.shingles import Tokens, ngrams, normalise, tokens
from synth_assets.filters.step import FilterInputs, FilterStep, Verdict
from synth_assets.spec import DecontaminationSpec

_RUN = 3  # an item word counts as held where a run of this many item words around it is in the row
# rows tested at a time: each row is tested on its own, so slicing changes no answer, and only one slice's
# n-gram tables are in memory (~100 MB at 20k reviews; a 100k-row table at once peaked at 2 GB)
_SLICE_ROWS = 5_000


def _gram_table(tok: Tokens, n: int, side: str, among: pl.Series | None = None) -> pl.DataFrame:
    """Distinct (n-gram hash, text) pairs; with `among`, only the n-grams whose hash is in it.

    A training slice's n-grams are kept only where an eval item has them (`among`): they are joined on
    the hash, so no other can match, and a handful of items' n-grams leave a small table to dedupe.
    """
    hashes, rows = ngrams(tok, n, short="drop")
    if among is not None:
        hit = pl.Series(hashes, dtype=pl.UInt64).is_in(among).to_numpy()
        hashes, rows = hashes[hit], rows[hit]
    return pl.DataFrame({"h": hashes, side: rows}, schema={"h": pl.UInt64, side: pl.Int64}).unique()


def _run_positions(tok: Tokens, run: int) -> pl.DataFrame:
    """Every `run`-word run of every text with the position of its first word in that text."""
    hashes, rows = ngrams(tok, run, short="drop")
    starts = np.concatenate([[0], np.cumsum(tok.counts)[:-1]]).astype(np.int64)
    first = np.arange(max(tok.hashes.size - run + 1, 0))
    first = first[tok.rows[first] == tok.rows[first + run - 1]] if first.size else first  # the order ngrams() uses
    return pl.DataFrame({"h": hashes, "eval": rows, "pos": first - starts[tok.rows[first]]},
                        schema={"h": pl.UInt64, "eval": pl.Int64, "pos": pl.Int64})


@dataclass(frozen=True)
class _EvalSide:
    """The eval items' n-gram tables, built once and tested against every slice of rows."""

    texts: Sequence[str | None]
    tok: Tokens
    long: pl.DataFrame  # ngram-grams
    grams: pl.DataFrame  # containment_ngram-grams
    sizes: pl.DataFrame  # distinct containment_ngram-grams per item
    runs: pl.DataFrame  # every _RUN-word run with its position in its item
    short: pl.DataFrame  # normalised items under containment_ngram words: exact matches only

    @classmethod
    def of(cls, eval_texts: Sequence[str | None], ngram: int, containment_ngram: int) -> _EvalSide:
        tok = tokens(eval_texts)
        grams = _gram_table(tok, containment_ngram, "eval")
        short = np.flatnonzero((tok.counts > 0) & (tok.counts < containment_ngram))
        return cls(eval_texts, tok, _gram_table(tok, ngram, "eval"), grams, grams.group_by("eval").len("n_eval"),
                   _run_positions(tok, min(_RUN, containment_ngram)),
                   pl.DataFrame({"norm": normalise(eval_texts).gather(short), "eval": short}))


def _holding_words(pairs: pl.DataFrame, train_tok: Tokens, side: _EvalSide, ngram: int, run: int,
                   min_word_containment: float) -> pl.DataFrame:
    """The (row, eval) pairs whose row holds enough of the item's words (every word of a short item).

    A word is held where a run of `run` item words around it is in the row, so the slot value of a
    template sibling does not count because it turns up elsewhere in the row.
    """
    if min_word_containment <= 0:  # the word test is off: the 5-gram share alone decides
        return pairs
    shared = (
        pairs.join(side.runs, on="eval")
        .join(_gram_table(train_tok, run, "row", side.runs["h"]), on=["row", "h"], how="semi")
    )
    held = (
        pl.concat([shared.select("row", "eval", pl.col("pos") + k) for k in range(run)])
        .unique().group_by("row", "eval").len("held")
    )
    length = pl.DataFrame({"eval": np.arange(side.tok.n_rows), "length": side.tok.counts},
                          schema={"eval": pl.Int64, "length": pl.Int64})
    need = pl.when(pl.col("length") < ngram).then(pl.col("length").cast(pl.Float64)).otherwise(min_word_containment * pl.col("length"))
    return held.join(length, on="eval").filter(pl.col("held") >= need).select("row", "eval")


def _pairs(texts: Sequence[str | None], side: _EvalSide, ngram: int, containment_ngram: int, min_containment: float,
           min_word_containment: float) -> pl.DataFrame:
    train_tok = tokens(texts)
    shared_long = _gram_table(train_tok, ngram, "row", side.long["h"]).join(side.long, on="h").select("row", "eval")
    candidates = (
        _gram_table(train_tok, containment_ngram, "row", side.grams["h"]).join(side.grams, on="h")
        .group_by("row", "eval").len("shared")
        .join(side.sizes, on="eval")
        .filter(pl.col("shared") >= min_containment * pl.col("n_eval"))
        .select("row", "eval")
    )
    # items under `containment_ngram` words take the exact rule, so every item here has a full run
    contained = _holding_words(candidates, train_tok, side, ngram, min(_RUN, containment_ngram), min_word_containment)
    exact = (  # no item under containment_ngram words: nothing to match exactly, and no text to normalise again
        pl.DataFrame({"norm": normalise(texts), "row": np.arange(len(texts))}).join(side.short, on="norm").select("row", "eval")
        if side.short.height else pl.DataFrame(schema={"row": pl.Int64, "eval": pl.Int64})
    )
    return pl.concat([shared_long, contained, exact.cast({"row": pl.Int64, "eval": pl.Int64})]).unique().sort("row", "eval")


def contained_pairs(texts: Sequence[str | None], eval_texts: Sequence[str | None], ngram: int = 13,
                    containment_ngram: int = 5, min_containment: float = 0.5,
                    min_word_containment: float = 0.9) -> pl.DataFrame:
    """Every (row, eval) pair of positions where text `row` contains eval item `eval` by rules 1-3."""
    side = _EvalSide.of(eval_texts, ngram, containment_ngram)
    return _pairs(texts, side, ngram, containment_ngram, min_containment, min_word_containment)


def ngram_contamination(texts: Sequence[str | None], eval_texts: Sequence[str | None], ngram: int = 13,
                        containment_ngram: int = 5, min_containment: float = 0.5,
                        min_word_containment: float = 0.9) -> list[int | None]:
    """Per text: the index of the first eval item it contains by rules 1-3, or None (a slice of rows at a time)."""
    texts, out = pl.Series("t", texts, dtype=pl.String), []
    side = _EvalSide.of(eval_texts, ngram, containment_ngram)  # once, not once a slice
    for lo in range(0, len(texts), _SLICE_ROWS):
        part = texts.slice(lo, _SLICE_ROWS)
        pairs = _pairs(part, side, ngram, containment_ngram, min_containment, min_word_containment)
        found = dict(pairs.group_by("row").agg(pl.col("eval").min()).iter_rows())
        out += [found.get(i) for i in range(len(part))]
    return out


def embedding_contamination(texts: Sequence[str | None], eval_texts: Sequence[str | None], threshold: float,
                            embedder: TextEmbedder) -> list[int | None]:
    """Per text: the index of the most similar eval item if cosine >= threshold, else None."""
    texts, eval_texts = list(texts), list(eval_texts)
    if not texts or not eval_texts:
        return [None] * len(texts)
    emb = embedder.encode(eval_texts + texts)
    ev, tr = emb[: len(eval_texts)], emb[len(eval_texts):]
    out: list[int | None] = []
    for lo in range(0, len(texts), 4096):
        sim = tr[lo:lo + 4096] @ ev.T
        best = sim.argmax(axis=1)
        out += [int(b) if s >= threshold else None for b, s in zip(best.tolist(), sim[np.arange(best.size), best].tolist())]
    return out


def contaminated_by(texts: Sequence[str | None] | pl.Series, eval_set: pl.DataFrame, cfg: DecontaminationSpec,
                    embedder: TextEmbedder | None = None) -> pl.Series:
    """Per text: the eval_id of an eval item it contains (n-gram rules first, then embeddings), or null."""
    texts = pl.Series("t", texts, dtype=pl.String)
    eval_texts, eval_ids = eval_set["input"].to_list(), eval_set["eval_id"].to_list()
    hits = ngram_contamination(texts, eval_texts, cfg.ngram, cfg.containment_ngram, cfg.min_containment, cfg.min_word_containment)
    if cfg.embedding_threshold is not None:
        if embedder is None:
            raise MissingEmbedderError("filters.decontamination.embedding_threshold is set: pass the embedder "
                                       "(synth_assets.filters.embeddings.embedder_for(spec))")
        semantic = embedding_contamination(texts.to_list(), eval_texts, cfg.embedding_threshold, embedder)
        hits = [h if h is not None else s for h, s in zip(hits, semantic)]
    return pl.Series("contaminated_by", [None if h is None else eval_ids[h] for h in hits], dtype=pl.String)


def shared_words(text: str | None, item: str | None) -> str:
    """The longest run of normalised words a row shares with an eval item: what a user looks for in the row."""
    a, b = normalise([text, item]).to_list()
    words, item_words = a.split(), b.split()
    match = SequenceMatcher(None, words, item_words, autojunk=False).find_longest_match(0, len(words), 0, len(item_words))
    return " ".join(words[match.a:match.a + match.size])


def _run(df: pl.DataFrame, eligible: pl.Expr, inputs: FilterInputs) -> Verdict:
    df = df.with_columns(contaminated_by(df["input"], inputs.eval_set, inputs.spec.filters.decontamination, inputs.embedder))
    df = df.with_columns(pl.col("contaminated_by").is_not_null().alias("contaminated"))
    reason = pl.when(pl.col("contaminated") == True).then(pl.lit("eval_contamination"))  # noqa: E712 (polars expression)
    return Verdict(df, reason, ~pl.col("contaminated"))


DECONTAMINATION = FilterStep(name="decontamination", section="decontamination", run=_run, reasons=("eval_contamination",),
                             needs=("eval_set",), columns={"contaminated_by": pl.String, "contaminated": pl.Boolean})
