"""Label words as the teacher scores them: one rule for every backend, and the words it cannot tell apart.

The rule: a label word scores the log-probability that the teacher's reply *starts* with it, read
at the first reply token. In-process backends (transformers, vLLM) take the log-probability of the
word's own first token, so a word of three tokens costs what a word of one costs (one forward pass
per prompt) and is not penalised for its length, as a sum over its tokens would. The openai backend
cannot tokenise the word on the server's vocabulary; it takes the best of the server's top-20 first
tokens that begin the word (case and a leading space ignored).

Words this rule cannot separate are refused before anything runs: two words with the same first
token tie (in-process backends, checked where the teacher's tokenizer is on disk), and under the
openai prefix match a word that begins another one (`rest`, `restaurant`) scores every token of the
shorter word for both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from synth_assets.models.embedded import EMBEDDED_PREFIX, SMOLLM2, model_cache_dir
from synth_assets.spec import PipelineSpec, SpecError, TeacherSpec

log = logging.getLogger("synth.label_words")

Encode = Callable[[str], list[int]]


class LabelWordError(SpecError):
    """Label words the teacher's scoring rule cannot tell apart."""


class ChoiceCollisionError(ValueError):
    """Two choices of one request that score the same by construction (a row error, not a crash)."""


@dataclass(frozen=True)
class LabelWordReport:
    """How the teacher's tokenizer splits each label word (None where no tokenizer was on disk)."""

    teacher: str
    tokens: dict[str, list[str]] | None

    def line(self) -> str:
        """One line for the log: each word's token count, and that the first token is what is scored."""
        if self.tokens is None:
            return f"label words for teacher {self.teacher}: its tokenizer is not on disk yet; token counts unknown"
        parts = [f"{w!r} = {len(t)} token{'s' if len(t) != 1 else ''}" + (f" ({'|'.join(t)})" if len(t) > 1 else "")
                 for w, t in self.tokens.items()]
        multi = [w for w, t in self.tokens.items() if len(t) > 1]
        tail = f"; {', '.join(map(repr, multi))} scored by the first token" if multi else ""
        return f"label words for teacher {self.teacher}: {', '.join(parts)}{tail}"


def prefix_collisions(words: Sequence[str]) -> list[tuple[str, str]]:
    """Pairs (a, b) where a begins b, case ignored: a prefix match on the first token cannot separate them."""
    folded = [(w, w.strip().lower()) for w in words]
    return [(a, b) for i, (a, fa) in enumerate(folded) for j, (b, fb) in enumerate(folded)
            if i != j and fb.startswith(fa) and (len(fa) < len(fb) or i < j)]


def first_token_collisions(words: Sequence[str], encode: Encode) -> list[tuple[str, str, int]]:
    """Pairs of words whose first token is the same id (they tie under the first-token rule), with that id."""
    return _shared_first([(w, list(encode(w))) for w in words])


def _shared_first(encoded: list[tuple[str, list[int]]]) -> list[tuple[str, str, int]]:
    return [(a, b, ia[0]) for i, (a, ia) in enumerate(encoded) for b, ib in encoded[i + 1:] if ia and ib and ia[0] == ib[0]]


def first_tokens(choices: Sequence[str], choice_ids: Sequence[list[int]]) -> list[list[int]]:
    """Each choice's first token id (as a one-id list): what the in-process backends score.

    Raises ChoiceCollisionError when two choices share it, since they would always tie.
    """
    clash = _shared_first(list(zip(choices, map(list, choice_ids))))
    if clash:
        a, b, _ = clash[0]
        raise ChoiceCollisionError(f"choices {a!r} and {b!r} start with the same token and would always tie; "
                                   "use label_words that start differently")
    return [list(ids[:1]) for ids in choice_ids]


def tokenizer_file(teacher: TeacherSpec) -> Path | None:
    """The teacher's tokenizer.json if it is already on disk; never converts, downloads or loads a model."""
    model = teacher.model
    if model.startswith(EMBEDDED_PREFIX):
        path = model_cache_dir() / SMOLLM2 / "tokenizer.json" if model == EMBEDDED_PREFIX + SMOLLM2 else None
        return path if path is not None and path.is_file() else None
    if Path(model).is_dir():
        path = Path(model) / "tokenizer.json"
        return path if path.is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(model, "tokenizer.json")
    except Exception:  # not a hub id, or no hub library: the check runs without a tokenizer
        return None
    return Path(found) if isinstance(found, str) else None


def _encoder(path: Path) -> tuple[Encode, Callable[[int], str]]:
    from tokenizers import Tokenizer  # the fast tokenizer alone: no torch, no transformers import at load

    tok = Tokenizer.from_file(str(path))
    return (lambda text: tok.encode(text, add_special_tokens=False).ids), (lambda i: tok.id_to_token(i) or str(i))


def check_label_words(spec: PipelineSpec) -> LabelWordReport | None:
    """Refuse label words the teacher cannot tell apart; log each word's token count where the tokenizer is on disk."""
    if spec.task != "classification" or not spec.labels:
        return None
    words = [spec.word_for(label) for label in spec.labels]
    field = f"pipeline {spec.name!r}: label_words"
    same = [(a, b) for a, b in prefix_collisions(words) if a.strip().lower() == b.strip().lower()]
    if same:
        raise LabelWordError(f"{field}: {same[0][0]!r} and {same[0][1]!r} are the same word to the teacher; give each label its own word")
    backend = spec.teacher.backend
    if backend == "openai":
        clash = prefix_collisions(words)
        if clash:
            a, b = clash[0]
            raise LabelWordError(f"{field}: {a!r} begins {b!r}; the openai backend matches a label word by the first "
                                 "token of the reply, which cannot tell them apart: use words that start differently")
    path = tokenizer_file(spec.teacher) if backend in ("transformers", "vllm", "openai") else None
    if path is None:
        report = LabelWordReport(spec.teacher.model, None)
        log.info(report.line())
        return report
    encode, name = _encoder(path)
    collisions = first_token_collisions(words, encode)
    if collisions:
        a, b, token = collisions[0]
        raise LabelWordError(f"{field}: {a!r} and {b!r} both start with the token {name(token)!r} for teacher "
                             f"{spec.teacher.model}, and label words are scored by their first token: use words that start differently")
    report = LabelWordReport(spec.teacher.model, {w: [name(i) for i in encode(w)] for w in words})
    log.log(logging.WARNING if any(len(t) > 1 for t in report.tokens.values()) else logging.INFO, report.line())
    return report
