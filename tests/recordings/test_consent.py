"""rooms.recordings.consent: codes a person can copy from a screen."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from rooms.recordings import consent

CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_new_codes_have_no_look_alikes() -> None:
    codes = [consent.new_revocation_code("s", None) for _ in range(200)]
    assert all(len(c) == 10 and set(c) <= CROCKFORD for c in codes)
    assert len(set(codes)) == 200


def test_derived_codes_are_crockford_and_stable() -> None:
    first = consent.new_revocation_code("secret", "scope-1")
    assert set(first) <= CROCKFORD and len(first) == 10
    assert consent.new_revocation_code("secret", "scope-1") == first  # a retry: the same code
    assert consent.new_revocation_code("secret", "scope-2") != first
    assert consent.new_revocation_code("other", "scope-1") != first


def test_normalisation() -> None:
    assert consent.normalize_code(" ab-cd\u00a0ef\u2014gh\u200bjk ") == "ABCDEFGHJK"
    assert consent.normalize_code("oilO-ILoilo") == "0110110110"
    full_width = "".join(chr(0xFF00 + ord(c) - 0x20) for c in "ABCDE") + "\u3000FGHJK"
    assert consent.normalize_code(full_width) == "ABCDEFGHJK"
    assert consent.normalize_code("ABCDEFGHJ") is None
    assert consent.normalize_code("ABCDEFGHJ?") is None


def test_candidates_are_bounded_and_most_likely_first() -> None:
    def h(code: str) -> str:
        return hashlib.sha256(code.encode()).hexdigest()

    hashes = consent.candidate_hashes("k0-1i x0luq7")
    assert hashes[:2] == [h("K01IX0LUQ7"), h("K011X01UQ7")]  # as typed, then Crockford
    assert len(hashes) == 2**5 == len(set(hashes))  # 0, 1, I, 0, L are ambiguous
    assert h("KO1IXOLUQ7") in hashes
    assert len(consent.candidate_hashes("0O1IL0O1IL")) == 1024  # the bound: 2**10
    assert consent.candidate_hashes("ABCDEFGHJK") == [h("ABCDEFGHJK")]
    assert consent.candidate_hashes("too short") == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_input_gives_a_bounded_list(raw: str) -> None:
    hashes = consent.candidate_hashes(raw)
    assert len(hashes) <= 1024
    assert (consent.normalize_code(raw) is None) == (hashes == [])
