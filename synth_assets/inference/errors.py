"""Teacher failures as a user reads them: the server's own words, counted, most frequent first."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

SHOWN = 3  # distinct messages in a summary; the counts say how many rows each covers


class TeacherUnavailableError(RuntimeError):
    """The first calls to a teacher all failed: it is down, refuses the requests, or lacks what the spec needs."""


def summarise_errors(errors: Iterable[str], shown: int = SHOWN) -> str:
    """'connection refused (98); HTTP 429 ... (2)': the most frequent messages with their counts."""
    counts = Counter(e for e in errors if e)
    parts = [f"{message} ({n})" for message, n in counts.most_common(shown)]
    rest = sum(counts.values()) - sum(n for _, n in counts.most_common(shown))
    if rest:
        parts.append(f"{rest} more of {len(counts) - shown} other kinds")
    return "; ".join(parts)
