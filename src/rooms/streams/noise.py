"""Noise text that means nothing, and how much information it carries.

Three modes (NOISE_MODE): `words` (3..NOISE_MAX_WORDS picks from a word list), `bytes`
(groups of hex digits) and `markov` (a walk over a tiny corpus, order 1 or 2, with
NOISE_BIGRAM_DROPOUT and back-off). Nothing here is copyrighted text and nothing is stored.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Mode = Literal["words", "bytes", "markov"]

WORDS: tuple[str, ...] = (
    "aurora", "flux", "drift", "lattice", "vector", "oblique", "quantum", "slag", "orb", "haze",
    "spire", "mono", "delta", "prism", "ion", "fractal", "pulse", "shard", "sable", "echo",
    "proto", "zenith", "phase", "morph", "grain",
)
MARKOV_CORPUS = "flux lattice echo drift aurora phase prism ion shard zenith"


def shannon_bits(symbols: Sequence[str]) -> float:
    """Average Shannon entropy, -Σ p·log2 p, in bits per symbol (0 for nothing)."""
    n = len(symbols)
    if n == 0:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(symbols).values())


@dataclass(frozen=True, slots=True)
class Measures:
    char_len: int
    char_entropy_avg_bits: float
    char_entropy_total_bits: float
    token_count: int
    token_entropy_avg_bits: float
    token_entropy_total_bits: float


def measure(text: str) -> Measures:
    """Per character (spaces included) and per whitespace token, rounded to 6 places."""
    chars, tokens = list(text), text.split()
    char_avg, token_avg = shannon_bits(chars), shannon_bits(tokens)
    return Measures(len(chars), round(char_avg, 6), round(char_avg * len(chars), 6),
                    len(tokens), round(token_avg, 6), round(token_avg * len(tokens), 6))


class Markov:
    """A chain over `corpus` tokens: order 1, or order 2 backing off to order 1.

    With order 2, each step ignores the two-token context with probability `dropout` (and
    always when that context was never seen followed by anything). A token without any
    successor (the corpus's last) restarts the walk at a random token.
    """

    def __init__(self, corpus: Sequence[str], order: int = 1, dropout: float = 0.0) -> None:
        if not corpus:
            raise ValueError("the markov corpus is empty")
        self.tokens = list(corpus)
        self.order = order
        self.dropout = dropout
        self.first: dict[str, list[str]] = defaultdict(list)
        self.second: dict[tuple[str, str], list[str]] = defaultdict(list)
        for a, b in zip(self.tokens, self.tokens[1:], strict=False):
            self.first[a].append(b)
        for a, b, c in zip(self.tokens, self.tokens[1:], self.tokens[2:], strict=False):
            self.second[(a, b)].append(c)

    def walk(self, n: int, rng: random.Random) -> list[str]:
        out = [rng.choice(self.tokens)]
        while len(out) < n:
            out.append(self._next(out, rng))
        return out

    def _next(self, out: list[str], rng: random.Random) -> str:
        if self.order == 2 and len(out) >= 2 and rng.random() >= self.dropout:
            pair = self.second.get((out[-2], out[-1]))
            if pair:
                return rng.choice(pair)
        options = self.first.get(out[-1])
        return rng.choice(options) if options else rng.choice(self.tokens)


class NoiseText:
    """Makes one text per call in the configured mode."""

    def __init__(self, mode: Mode, *, max_words: int = 8, wordset: Sequence[str] = (),
                 markov_order: int = 1, bigram_dropout: float = 0.0) -> None:
        self.mode = mode
        self.max_words = max(3, max_words)
        self.words = tuple(wordset) or WORDS
        corpus = list(wordset) if wordset else MARKOV_CORPUS.split()
        self.markov = Markov(corpus, markov_order, bigram_dropout)

    def make(self, rng: random.Random) -> str:
        if self.mode == "bytes":
            groups = rng.randint(4, 12) // 2
            return " ".join(f"{rng.getrandbits(8 * k):0{2 * k}x}"
                            for k in (rng.randint(2, 4) for _ in range(groups)))
        n = rng.randint(3, self.max_words)
        if self.mode == "markov":
            return " ".join(self.markov.walk(n, rng))
        return " ".join(rng.choice(self.words) for _ in range(n))


def band(interval_s: float) -> str:
    """hf under 1 s between events, mf under 2 s, lf otherwise."""
    return "hf" if interval_s < 1.0 else "mf" if interval_s < 2.0 else "lf"
