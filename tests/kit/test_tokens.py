"""Signed tokens: one spelling each, and `token_id` names the decoded MAC."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms.kit import tokens
from tests.respell import lenient, respellings

SECRET = "s" * 40


def test_only_the_issued_spelling_verifies() -> None:
    token = tokens.sign(SECRET, "p", {"a": 7}, 60)
    assert tokens.verify(SECRET, "p", token)["a"] == 7
    for other in respellings(token):
        with pytest.raises(tokens.TokenError):
            tokens.verify(SECRET, "p", other)
        with pytest.raises(tokens.TokenError):
            tokens.token_id(other)


def test_token_id_is_the_canonical_mac() -> None:
    token = tokens.sign(SECRET, "p", {}, 60)
    name = tokens.token_id(token)
    assert name == token.split(".")[1] and len(name) == 27
    assert lenient(name) == lenient(token.split(".")[1])
    assert tokens.token_id(tokens.sign(SECRET, "p", {}, 60)) != name  # the nonce differs


@given(st.text(max_size=80))
def test_junk_is_refused_not_crashed(text: str) -> None:
    token = tokens.sign(SECRET, "p", {}, 60)
    for candidate in (text, f"{text}.{token.split('.')[1]}", f"{token.split('.')[0]}.{text}"):
        if candidate == token:
            continue
        with pytest.raises(tokens.TokenError):
            tokens.verify(SECRET, "p", candidate)
