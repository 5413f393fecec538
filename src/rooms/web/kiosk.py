"""The kiosk's view of the steward's posture, and the page's configuration.

`kiosk_view` is the `kiosk` object of `GET /api/v1/surface/state` (CONTRACT §4): the
steward's language, accessibility mode, reduced motion, theme, and the longest take the
kiosk may record, min(the steward's `kiosk_max_recording_seconds`, else
`KIOSK_DEFAULT_MAX_RECORDING_SECONDS`, `INGEST_MAX_DURATION_SECONDS`), so a kiosk never
records a take the server refuses.
"""

from __future__ import annotations

import json
from typing import Any

from rooms.config import Settings
from rooms.steward import Posture


def max_recording_seconds(posture: Posture, settings: Settings) -> int:
    """Seconds. The steward's value once they have set anything, else the deployment's
    default; never above what ingest accepts."""
    wanted = (posture.kiosk_max_recording_seconds if posture.updated_at is not None
              else settings.kiosk_default_max_recording_seconds)
    return min(wanted or settings.kiosk_default_max_recording_seconds,
               settings.ingest_max_duration_seconds)


def kiosk_view(posture: Posture, settings: Settings) -> dict[str, Any]:
    return {"language": posture.kiosk_language_code or settings.kiosk_default_language_code,
            "accessibility_mode": posture.kiosk_accessibility_mode,
            "force_reduced_motion": posture.kiosk_force_reduced_motion,
            "max_recording_seconds": max_recording_seconds(posture, settings),
            "theme_title": posture.session_theme_title,
            "theme_prompt": posture.session_theme_prompt}


def page_config(posture: Posture, settings: Settings, revoke_url: str) -> str:
    """The JSON the kiosk page reads from its `data-config` attribute (seconds, codes)."""
    return json.dumps({"micCheckS": settings.kiosk_mic_check_seconds,
                       "countdownS": settings.kiosk_countdown_seconds,
                       "reviewTimeoutS": settings.kiosk_review_timeout_seconds,
                       "revokeUrl": revoke_url,
                       "kiosk": kiosk_view(posture, settings)})


def qr_svg(url: str) -> str:
    """An inline SVG QR code of `url` (segno; error correction M, no XML declaration)."""
    import segno  # loaded with the first kiosk page, not at start (idle memory)

    return segno.make(url, error="m").svg_inline(scale=4, dark="#000", light="#fff",
                                                 border=2)
