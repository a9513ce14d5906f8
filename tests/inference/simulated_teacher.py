"""A teacher of known quality behind the loopback OpenAI-compatible server: label scores drawn from gold labels.

For a text whose gold label it knows, the teacher's best label is the gold one with probability
`accuracy`, else another label. The draw is seeded by the text alone (one uniform number u per
text; right iff u < accuracy), so it is the same on every call, and a text the teacher gets right
at accuracy 0.7 it also gets right at 0.9: a sweep over accuracies compares teachers that differ
only in the texts they start getting right.

Margins (best minus second-best label log-probability) are informative but imperfect, as a real
LLM's are: right answers draw theirs from a gamma with mean `margin_right`, wrong ones from a gamma
with mean `margin_wrong`, and the two overlap. When the teacher is wrong, the gold label is its
runner-up with probability `gold_second` (always, with two labels). The labels below the top two
trail the runner-up by an exponential gap, and a few filler tokens that begin no label word take
the rest of the probability mass, so the reply reads like the top-20 first-token log-probs a
chat-completions server returns for `max_tokens: 1`.

Texts it does not know get a uniformly random label with a wrong answer's margin. Generation
requests (max_tokens > 1) get a light paraphrase of the text back (`rewrite`), and the teacher
remembers which text each rewrite paraphrases: asked to label the rewrite, it scores it against that
text's gold label with the same accuracy model (its own draw, seeded by the rewrite). With `drift`,
that share of rewrites loses its meaning, as a small model's sometimes does: the rewrite paraphrases
one of `donors`, a text of another gold label, so the row's claimed (seed) label is wrong.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from openai_server import Fleet
from synth_assets.sources.validate import normalise

TEXT = re.compile(r"<text>(.*?)</text>", re.DOTALL)  # where the bench's prompts put the text to label
_FILLERS = ("\n", "**", "The", "It", "Answer", "A", "This", "I", "-", '"', "1", "Based")


@dataclass(frozen=True)
class Draw:
    """What the teacher decided for one text: its best label, whether that is the gold one, and the margin."""

    best: str
    right: bool | None  # None: the text's gold label is unknown
    margin: float
    logprobs: dict[str, float]  # every label word's log-probability at the first reply token
    rest: float  # log of the probability left to tokens that begin no label word


@dataclass
class SimulatedTeacher:
    """Answers label-scoring requests from `gold` (normalised text -> label word) at a chosen accuracy."""

    gold: dict[str, str]
    words: list[str]
    accuracy: float
    seed: int = 0
    margin_right: float = 2.0
    margin_wrong: float = 0.8
    gold_second: float = 0.6
    shape: float = 2.0  # gamma shape of both margin distributions (lower: wider overlap)
    drift: float = 0.0  # share of rewrites that lose their meaning: they paraphrase a donor of another label
    donors: tuple[str, ...] = ()  # texts of known gold label that a lost-meaning rewrite is made from
    seen: Counter[str] = field(default_factory=Counter)  # "right", "wrong", "unknown", "generate": calls answered
    # normalised rewrite -> the text it paraphrases (its source, or the donor when it lost its meaning)
    rewrites: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.accuracy <= 1.0:
            raise ValueError(f"accuracy must be in [0, 1], got {self.accuracy}")
        if not 0.0 <= self.drift <= 1.0:
            raise ValueError(f"drift must be in [0, 1], got {self.drift}")
        self.gold = {normalise(k): v for k, v in self.gold.items()}
        self.fillers = [f for f in _FILLERS if f.strip() and not any(w.lower().startswith(f.strip().lower()) for w in self.words)]

    def gold_of(self, text: str) -> str | None:
        """The gold label word of a known text, or of the text a rewrite paraphrases; None for a text it does not know."""
        key = normalise(text)
        if key in self.gold:
            return self.gold[key]
        source = self.rewrites.get(key)
        return None if source is None else self.gold.get(normalise(source))

    def rewrite(self, text: str, sample: int = 0) -> str:
        """A rewrite of `text` (per sample a different lead-in); with probability `drift` one of a donor of another label."""
        rng = random.Random(hashlib.sha256(f"{self.seed}\0rewrite\0{sample}\0{normalise(text)}".encode()).digest())
        gold, base = self.gold.get(normalise(text)), text
        if gold is not None and rng.random() < self.drift:
            others = [d for d in self.donors if self.gold.get(normalise(d)) not in (None, gold)]
            base = rng.choice(others) if others else text
        out = paraphrase(base, _LEADS[sample % len(_LEADS)])
        with self._lock:
            self.rewrites[normalise(out)] = base
        return out

    def draw(self, text: str) -> Draw:
        """The teacher's scores for one text: the same every time it is asked."""
        key = normalise(text)
        rng = random.Random(hashlib.sha256(f"{self.seed}\0{key}".encode()).digest())
        u = rng.random()  # drawn first and alone, so rightness is monotone in accuracy
        gold = self.gold_of(text)
        others = [w for w in self.words if w != gold]
        if gold is None:
            best, right = rng.choice(self.words), None
        elif u < self.accuracy:
            best, right = gold, True
        else:
            best, right = rng.choice(others), False
        margin = rng.gammavariate(self.shape, (self.margin_right if right else self.margin_wrong) / self.shape)
        rest = [w for w in self.words if w != best]
        rng.shuffle(rest)
        if right is False and rng.random() < self.gold_second:
            rest.remove(gold)
            rest.insert(0, gold)
        logits = {best: 0.0}
        trail = -margin
        for i, word in enumerate(rest):
            trail -= rng.expovariate(1 / 1.5) if i else 0.0
            logits[word] = trail
        # log-softmax over the label words and a filler mass of 5-15 % of the best label's probability
        filler = math.log(rng.uniform(0.05, 0.15))
        total = math.log(sum(math.exp(v) for v in logits.values()) + math.exp(filler))
        return Draw(best, right, margin, {w: v - total for w, v in logits.items()}, filler - total)

    def top_logprobs(self, draw: Draw) -> list[tuple[str, float]]:
        """The first reply token's top-20: every label word, then fillers sharing the leftover mass, best first."""
        weights = [math.exp(-0.3 * i) for i in range(len(self.fillers))]
        split = [(f, draw.rest + math.log(w / sum(weights))) for f, w in zip(self.fillers, weights)]
        return sorted([*draw.logprobs.items(), *split], key=lambda t: -t[1])[:20]

    def __call__(self, prompt: str, body: dict[str, Any]) -> tuple[str, list[tuple[str, float]]]:
        """The Fleet's answer hook: a label-scoring reply, or a paraphrase for a generation request."""
        found = TEXT.search(prompt)
        text = found.group(1) if found else prompt
        if body.get("max_tokens") != 1:
            self._count("generate")
            return self.rewrite(text, int(body.get("seed") or 0)), []
        d = self.draw(text)
        self._count({True: "right", False: "wrong", None: "unknown"}[d.right])
        top = self.top_logprobs(d)
        return top[0][0], top

    def _count(self, what: str) -> None:
        with self._lock:
            self.seen[what] += 1


_LEADS = ("In other words: ", "Put differently: ", "Said another way: ", "That is: ")


def paraphrase(text: str, lead: str = _LEADS[0]) -> str:
    """A light rewording that keeps the text's meaning (and its label) for strategies that generate."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]
    if len(sentences) > 1:
        sentences = sentences[1:] + sentences[:1]
    return lead + " ".join(sentences)


def start(teacher: SimulatedTeacher, n: int = 1) -> Fleet:
    """Loopback servers answering as `teacher`; close() them when done."""
    return Fleet(n=n, answer=teacher)
