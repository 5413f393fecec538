"""Spores and token hints: what a beacon lets a listener taste of a stream (seed 002).

Both come from the stream's Markov token set (the corpus its `markov` mode walks: NOISE_WORDSET
in order, or upstream's ten-word corpus), whatever mode the stream speaks in, so a beacon
never carries a word the stream could not say:

- `spore`: a short walk of SPORE_MIN_TOKENS..SPORE_MAX_TOKENS tokens over that chain (order 1,
  so it reads like the stream at its most ordinary), joined by spaces;
- `tokens_hint`: up to HINT_TOKENS distinct tokens, first those of the latest text that are in
  the set (what the stream just said), then the set's most frequent ones.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from rooms.streams.noise import Markov

SPORE_MIN_TOKENS = 3
SPORE_MAX_TOKENS = 5
HINT_TOKENS = 3


class Spores:
    """Spores and hints over one token set (`corpus`, in order; must not be empty)."""

    def __init__(self, corpus: Sequence[str]) -> None:
        self.chain = Markov(corpus, order=1)
        self.tokens = frozenset(corpus)
        self._common = [t for t, _ in Counter(corpus).most_common()]

    def spore(self, rng: random.Random) -> str:
        return " ".join(self.chain.walk(rng.randint(SPORE_MIN_TOKENS, SPORE_MAX_TOKENS), rng))

    def hint(self, text: str = "") -> list[str]:
        said = [t for t in text.split() if t in self.tokens]
        return list(dict.fromkeys([*said, *self._common]))[:HINT_TOKENS]
