"""Hard negatives near the decision boundary: a labelled seed minimally rewritten to take another label.

A contrast example (Gardner et al., 2020; Kaushik et al., 2020) differs from its seed in the few
words that decide the label, so the pair straddles the decision boundary where a small student is
weakest; PGKD feeds such hard cases back to the student. The new label is the one the student
confused the seed with when the row comes from a student error (a round's `prediction`), else the
label after the seed's in `labels`. Whether the rewrite really took that label is the teacher's
call, not its claim: `verify_label` is on by default, so the teacher scores the label words on the
new text and the filters keep the row only when that label is the target, confidently.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from synth_assets.inference.base import GenerationResult
from synth_assets.strategies.base import Parsed, Seed, Strategy, target_word
from synth_assets.strategies.rephrase import clean_rewrite

if TYPE_CHECKING:
    from synth_assets.spec import PipelineSpec

TEMPLATE = (
    "{instruction}\n\nText: {input}\n\n"
    "The answer for this text is \"{label}\". Rewrite it with as few changes as possible so that the answer becomes "
    "\"{flipped}\". Keep its topic, length and style; change only the words that decide the answer. "
    "Reply with the rewritten text only."
)


# Small models echo the prompt's frame around the rewrite: a "Text:" line, a sentence announcing
# "the answer is ...", the rewrite quoted inside "The review is "...", a made-up heading, or a
# restated instruction before "Here is the rewritten text:". Those are not the text.
_AFTER_LEAD_IN = re.compile(r"\b(?:rewritten|new|modified) (?:text|review|version)\s*:\s*", re.I)
_HEADING = re.compile(r"^[^.!?:\n]{0,40}\breview\s*:\s*", re.I)
_TEXT_LINE = re.compile(r"^\s*text\s*:\s*(.+?)(?:\n\s*\n|$)", re.I | re.M | re.S)
_ANSWER_SENTENCE = re.compile(r"[^.!?\n\"]*\bthe answer\b[^.!?\n]*[.!?]?[\"']?", re.I)
_QUOTED = re.compile(r"\"([^\"]{20,})\"")
_WORDS = re.compile(r"\w+")


def extract_rewrite(reply: str | None) -> str:
    """The rewritten text inside a small model's reply, without the echoed frame."""
    text = clean_rewrite(reply)
    lead_ins = list(_AFTER_LEAD_IN.finditer(text))
    text = text[lead_ins[-1].end():] if lead_ins else text
    text = _HEADING.sub("", text, count=1)
    line = _TEXT_LINE.search(text)
    text = line.group(1) if line else text
    text = _ANSWER_SENTENCE.sub(" ", text).strip()
    quoted = _QUOTED.search(text)
    if quoted and len(text) - len(quoted.group(0)) < 30:  # a short frame around one quoted text
        text = quoted.group(1)
    return " ".join(text.split())


def echoes_instruction(spec: PipelineSpec, text: str) -> bool:
    """A reply that restates the task (quotes a label word, talks of rewriting) is no rewrite; and
    the label word in it would sway the teacher's label check."""
    quoted = any(f'"{spec.word_for(label).lower()}"' in text.lower() for label in spec.labels)
    return quoted or re.search(r"\brewrit(?:e|ten|ing)\b", text, re.I) is not None


def same_words(a: str, b: str) -> bool:
    """Whether two texts have the same words, ignoring case, spacing and punctuation."""
    return _WORDS.findall(a.lower()) == _WORDS.findall(b.lower())


def flipped_label(spec: PipelineSpec, seed: Seed) -> str:
    """The label the rewrite must take: the student's confusion when known, else the next label in order."""
    if seed.prediction in spec.labels and seed.prediction != seed.target:
        return seed.prediction
    labels = spec.labels
    return labels[(labels.index(seed.target) + 1) % len(labels)] if seed.target in labels else labels[0]


class HardNegativeStrategy(Strategy):
    name = "hard_negative"
    version = "2"
    template = TEMPLATE

    def fields(self, spec: PipelineSpec, seed: Seed) -> dict[str, str]:
        return {**super().fields(spec, seed), "label": target_word(spec, seed),
                "flipped": spec.word_for(flipped_label(spec, seed))}

    def parse(self, spec: PipelineSpec, seed: Seed, result: GenerationResult) -> Parsed:
        target = flipped_label(spec, seed)
        text = extract_rewrite(result.text)
        if not text:
            return Parsed(input=None, target=target, error="empty rewrite")
        if echoes_instruction(spec, text):
            return Parsed(input=None, target=target, error="reply restates the instruction instead of rewriting the text")
        if same_words(text, seed.input):
            return Parsed(input=None, target=target, error="rewrite left the seed unchanged")
        return Parsed(input=text, target=target, parts={"contrast_of": seed.seed_id, "seed_label": seed.target})
