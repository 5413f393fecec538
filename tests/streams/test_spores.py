"""Spores and token hints come from the stream's Markov token set, and nothing else."""

from __future__ import annotations

import random

import pytest

from rooms.streams.noise import MARKOV_CORPUS
from rooms.streams.spores import SPORE_MAX_TOKENS, SPORE_MIN_TOKENS, Spores


@pytest.mark.parametrize("corpus", [MARKOV_CORPUS.split(), ["mist", "salt", "mist", "ember"]])
def test_spores_only_use_tokens_of_the_corpus(corpus: list[str]) -> None:
    spores, rng = Spores(corpus), random.Random(3)
    seen: set[str] = set()
    for _ in range(300):
        words = spores.spore(rng).split()
        assert SPORE_MIN_TOKENS <= len(words) <= SPORE_MAX_TOKENS
        assert set(words) <= set(corpus)
        seen.update(words)
    assert seen == set(corpus)  # and in time, all of it


def test_hints_are_what_the_stream_just_said_then_its_commonest_tokens() -> None:
    spores = Spores(["mist", "salt", "mist", "ember", "mist", "salt"])
    assert spores.hint("ember ember unknown") == ["ember", "mist", "salt"]
    assert spores.hint("") == ["mist", "salt", "ember"]
    assert spores.hint("0a1b 77ff") == ["mist", "salt", "ember"]  # bytes text: none of it
