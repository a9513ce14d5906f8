"""Whether a teacher and a student share one tokenizer vocabulary, the precondition of logit distillation.

The student learns the teacher's top-k token distribution id for id (student.distill.logits), so the
same text must be the same token id on both sides. Only the tokenizers load: no weights.
"""

from __future__ import annotations

from synth_assets.models.embedded import EMBEDDED_PREFIX, resolve_causal_lm


class TokenizerLoadError(RuntimeError):
    """A tokenizer name that resolves to nothing loadable on this machine."""


def tokenizer_vocab(name: str) -> dict[str, int]:
    """token -> id of a model's tokenizer (added tokens included): an `embedded:` name, a local dir or a hub id."""
    from transformers import AutoTokenizer

    try:
        # an embedded model is converted once (cached); a hub id fetches its tokenizer files only, not the weights
        path = resolve_causal_lm(name) if name.startswith(EMBEDDED_PREFIX) else name
        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as exc:  # noqa: BLE001 (transformers raises OSError, ValueError, HF hub errors...)
        raise TokenizerLoadError(f"cannot load the tokenizer of {name!r}: {type(exc).__name__}: {exc}") from exc
    return dict(tokenizer.get_vocab())


def vocab_mismatch(teacher: str, student: str) -> str | None:
    """Why the two tokenizers' vocabularies differ (naming both models), or None when they are the same."""
    ours, theirs = tokenizer_vocab(student), tokenizer_vocab(teacher)
    if ours == theirs:
        return None
    differing = sorted(t for t in ours.keys() | theirs.keys() if ours.get(t) != theirs.get(t))
    examples = ", ".join(f"{t!r}: teacher {theirs.get(t)} vs student {ours.get(t)}" for t in differing[:3])
    return (f"the teacher tokenizer {teacher!r} ({len(theirs)} tokens) and the student base_model {student!r} "
            f"({len(ours)} tokens) have different vocabularies ({len(differing)} tokens differ, e.g. {examples}); "
            "the student learns the teacher's distribution token id for token id, so pick a student of the "
            "teacher's tokenizer family or turn student.distill.logits off")
