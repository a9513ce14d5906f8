"""Tiny, obviously separable sentiment sets shared by the classifier tests."""

from __future__ import annotations

import pytest

POSITIVE = [
    "I love this movie, it is wonderful",
    "what a great and happy day",
    "this food is excellent and delicious",
    "a wonderful, beautiful performance",
    "I am so happy with this great product",
    "excellent service, I love it",
    "the best film I have ever seen, wonderful",
    "great music and a happy crowd",
    "delicious cake, excellent coffee, love it",
    "a beautiful and wonderful trip",
    "fantastic, great, I love it so much",
    "happy customers and excellent quality",
]
NEGATIVE = [
    "I hate this movie, it is terrible",
    "what an awful and sad day",
    "this food is disgusting and bad",
    "a terrible, horrible performance",
    "I am so angry with this awful product",
    "horrible service, I hate it",
    "the worst film I have ever seen, terrible",
    "bad music and an angry crowd",
    "disgusting cake, awful coffee, hate it",
    "a horrible and terrible trip",
    "dreadful, bad, I hate it so much",
    "angry customers and awful quality",
]


@pytest.fixture(scope="session")
def sentiment() -> tuple[list[str], list[str]]:
    """24 rows, 12 per label, each carrying unmistakable sentiment words."""
    return POSITIVE + NEGATIVE, ["positive"] * len(POSITIVE) + ["negative"] * len(NEGATIVE)
