"""Noise text and its measures: upstream's figures, the three modes, the Markov chain."""

from __future__ import annotations

import itertools
import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms.streams.noise import MARKOV_CORPUS, WORDS, Markov, NoiseText, band, measure


def test_measures_match_upstreams_observed_figures() -> None:
    m = measure("fractal prism sable")
    assert (m.char_len, m.char_entropy_avg_bits, m.char_entropy_total_bits) == (
        19, 3.576618, 67.955735)
    assert (m.token_count, m.token_entropy_avg_bits, m.token_entropy_total_bits) == (
        3, 1.584963, 4.754888)
    assert measure("81ca7a 4ed31a e73bef").char_entropy_avg_bits == 3.446439
    assert measure("").char_entropy_avg_bits == 0.0 and measure("aaaa").char_len == 4


@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=3, max_value=20))
def test_words_are_three_to_max_picks_from_the_list(seed: int, max_words: int) -> None:
    text = NoiseText("words", max_words=max_words).make(random.Random(seed))
    tokens = text.split()
    assert 3 <= len(tokens) <= max_words and set(tokens) <= set(WORDS)


@given(st.integers(min_value=0, max_value=2**32))
def test_bytes_are_groups_of_hex_pairs(seed: int) -> None:
    text = NoiseText("bytes").make(random.Random(seed))
    groups = text.split(" ")
    assert 2 <= len(groups) <= 6
    assert all(re.fullmatch(r"(?:[0-9a-f]{2}){2,4}", g) for g in groups)


def _follows_corpus(tokens: list[str], corpus: list[str]) -> bool:
    """Each step is the corpus's next token, or a restart after its last one."""
    return all(b == corpus[corpus.index(a) + 1] if a != corpus[-1] else b in corpus
               for a, b in itertools.pairwise(tokens))


@pytest.mark.parametrize("order", [1, 2])
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_markov_walks_the_corpus_and_restarts_after_its_end(order: int, seed: int) -> None:
    corpus = MARKOV_CORPUS.split()
    text = NoiseText("markov", max_words=30, markov_order=order).make(random.Random(seed))
    assert _follows_corpus(text.split(), corpus)


def test_order_two_uses_the_pair_and_dropout_falls_back_to_order_one() -> None:
    # After "a": b or c; after the pair ("b", "a"): always c.
    corpus = ["a", "b", "a", "c", "a", "b", "a", "c"]
    rng = random.Random(3)
    strict = Markov(corpus, order=2, dropout=0.0)
    loose = Markov(corpus, order=2, dropout=1.0)
    after_ba = {strict._next(["b", "a"], rng) for _ in range(200)}
    assert after_ba == {"c"}
    assert {loose._next(["b", "a"], rng) for _ in range(200)} == {"b", "c"}
    assert {strict._next(["x", "a"], rng) for _ in range(200)} == {"b", "c"}  # back-off


def test_band_by_interval() -> None:
    assert [band(x) for x in (0.5, 0.99, 1.0, 1.99, 2.0, 3.0)] == [
        "hf", "hf", "mf", "mf", "lf", "lf"]
