"""The closed value sets: strings where the API shows them, and an audit name for every change."""

from __future__ import annotations

import json

import pytest

from rooms.models import ArtifactStatus, ConsentMode, DerivativeKind, StewardActionName
from rooms.models.steward import SWITCHES
from rooms.ops.controls import ControlsIn


def test_members_are_the_strings_the_contract_shows() -> None:
    assert list(ArtifactStatus) == ["ACTIVE", "EXPIRED", "REVOKED", "EPHEMERAL"]
    assert list(ConsentMode) == ["ROOM", "FOSSIL", "NOSAVE"]
    assert list(DerivativeKind) == ["spectrogram_png", "essence_wav"]
    assert json.dumps({ArtifactStatus.ACTIVE: [ConsentMode.FOSSIL]}) == '{"ACTIVE": ["FOSSIL"]}'


def test_every_steward_setting_change_has_an_action_name() -> None:
    """A new switch without its name would fail the operator's request, not just the audit."""
    for field in ControlsIn.model_fields:
        values = (True, False) if field in SWITCHES else ("hushed",)
        for value in values:
            assert StewardActionName.for_change(field, value).startswith(f"{field}.")
    assert StewardActionName.for_change("quieter_mode", True) == "quieter_mode.enabled"
    assert StewardActionName.for_change("mood_bias", "") == "mood_bias.updated"
    with pytest.raises(ValueError, match="volume"):
        StewardActionName.for_change("volume", 11)
