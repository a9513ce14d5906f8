"""A labelled set for the decontamination rule: true leaks and template siblings of eval items.

Built from the shipped data (the sentiment test reviews and their sentences, the math test
problems, pool reviews as surrounding text and replacement words) and from intent templates like
those of voice-assistant datasets (`What is the forecast for {place}?`), where the rule used to
flag a sibling with another slot value as a leak.

- A **leak** holds the eval item: verbatim, with case, punctuation or spacing changed, pasted
  between other text, or (an item of 20 words or more) with one word in 20 changed.
- A **template sibling** is a short text (under 13 words, where the 13-gram test is silent) with
  the item's template and another value in one slot: the last words, or one word inside.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from synth_assets.filters.shingles import normalise

SHIPPED = Path(__file__).resolve().parents[2] / "synth_assets" / "pipelines" / "data"


@dataclass(frozen=True)
class Case:
    row: str
    item: str
    leak: bool
    kind: str


# {slot} placeholders take one value from SLOTS each; the first value of every slot makes the eval item
TEMPLATES = [
    "What is the forecast for {place}?",
    "What will the weather be in {place} {time}?",
    "Is it going to rain in {place} {time}?",
    "Play {song} by {artist}",
    "Add {song} to my {playlist} playlist",
    "Book a table for {n} at {restaurant} {time}",
    "I want to book a table for {n} people at {restaurant} {time}",
    "Find the movie schedule at {cinema} {time}",
    "What time is {movie} showing at {cinema}?",
    "Rate this {book} {k} out of 6 stars",
    "Set an alarm for {clock} {time}",
    "Search for the {work} called {movie}",
]
SLOTS = {
    "place": ["Niger", "Mexican Hat, New Hampshire", "Salt Lake City", "the Bahamas", "Ghana", "Lake Tahoe in California"],
    "time": ["tomorrow", "this weekend", "next Friday", "tonight"],
    "song": ["Yesterday", "Hey Jude", "Bohemian Rhapsody", "Wonderwall"],
    "artist": ["the Beatles", "Queen", "Oasis", "Taylor Swift"],
    "playlist": ["workout", "chill evening", "road trip"],
    "n": ["two", "four", "six"],
    "restaurant": ["Nobu", "Olive Garden", "the Red Lobster", "Chez Panisse"],
    "cinema": ["the Roxy", "Regal Union Square", "Cinemark"],
    "movie": ["Dune", "The Godfather", "Finding Nemo", "Inside Out"],
    "book": ["novel", "textbook", "saga"],
    "k": ["five", "two", "four"],
    "clock": ["7 am", "noon", "half past six"],
    "work": ["song", "album", "painting"],
}
_SLOT = re.compile(r"\{(\w+)\}")


def _fill(template: str, choice: dict[str, int]) -> str:
    return _SLOT.sub(lambda m: SLOTS[m.group(1)][choice.get(m.group(1), 0)], template)


def _words(text: str) -> list[str]:
    return text.split()


def _plain(text: str) -> str:
    """Lower-cased words without punctuation, as the filter reads a text."""
    return normalise([text])[0]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def _shouted(text: str) -> str:
    return re.sub(r"[.!?]+", "!!", text.upper())


def intent_cases() -> list[Case]:
    """Per template: the eval item, leaks of it, and a sibling for every other value of every slot."""
    cases = []
    for template in TEMPLATES:
        item = _fill(template, {})
        cases += [
            Case(item, item, True, "intent verbatim"),
            Case(_shouted(item), item, True, "intent case and punctuation"),
            Case(f"hey there, {item.lower()} please, thanks", item, True, "intent inside other words"),
            Case(f"{_fill(TEMPLATES[0], {'place': 2})} Also: {item}", item, True, "intent after another query"),
        ]
        for slot in dict.fromkeys(_SLOT.findall(template)):
            for value in range(1, len(SLOTS[slot])):
                cases.append(Case(_fill(template, {slot: value}), item, False, f"intent sibling ({slot})"))
            # the item's slot value turns up too, but in another sentence of the row
            cases.append(Case(f"{_fill(template, {slot: 1})} Then tell me about {SLOTS[slot][0]}.", item, False,
                              f"intent sibling ({slot}, its value elsewhere)"))
    return cases


def review_cases(seed: int = 0) -> list[Case]:
    """Leaks of the shipped test reviews and math problems; leaks and siblings of their short sentences."""
    rng = random.Random(seed)
    reviews = pl.read_csv(SHIPPED / "sentiment_test.csv")["review"].to_list()
    problems = [json.loads(line)["problem"] for line in (SHIPPED / "math_test.jsonl").read_text().splitlines() if line.strip()]
    pool = pl.read_csv(SHIPPED / "sentiment_pool.csv")["review"].to_list()
    pool_sentences = [s for text in pool for s in _sentences(text) if 4 <= len(_words(s)) <= 20]
    vocab = sorted({w for s in pool_sentences for w in re.findall(r"[a-z]{4,}", s.lower())})
    cases = []
    for item in reviews + problems:
        before, after = rng.choice(pool_sentences), rng.choice(pool_sentences)
        cases.append(Case(f"{before} {item.upper()} {after}", item, True, "text pasted between pool sentences"))
        words = _words(item)
        if len(words) >= 20:
            edited = list(words)
            own = {w.lower() for w in words}
            for pos in rng.sample(range(len(words)), len(words) // 20):
                edited[pos] = rng.choice([w for w in vocab if w not in own])
            cases.append(Case(f"{before} {' '.join(edited)}", item, True, "text with one word in 20 changed"))
    # sentences of 5 to 12 words as the filter counts them (case and punctuation dropped)
    short = sorted({s for text in reviews for s in _sentences(text) if 5 <= len(_words(_plain(s))) < 13})
    for item in short:
        words = _words(_plain(item))
        others = [w for w in vocab if w not in words]
        # the slot is a word the item holds once, and its new value does not bring it back
        endings = [e for e in (_words(_plain(s))[-rng.randint(1, 3):] for s in rng.sample(pool_sentences, 20))
                   if words.count(words[-1]) == 1 and words[-1] not in e]
        inner = [i for i in range(1, len(words) - 1) if words.count(words[i]) == 1]
        if not endings or not inner:
            continue
        ending, inner = endings[0], rng.choice(inner)
        cases += [
            Case(f"{rng.choice(pool_sentences)} {item}", item, True, "sentence after a pool sentence"),
            Case(_shouted(item), item, True, "sentence case and punctuation"),
            Case(" ".join(words[:-1] + ending), item, False, "sentence sibling (other last words)"),
            Case(" ".join(words[:inner] + [rng.choice(others)] + words[inner + 1:]), item, False, "sentence sibling (one word inside)"),
        ]
    return cases
