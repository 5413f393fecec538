"""The steward's page at /ops/: who sees the sign-in form and what the dashboard is told.

The dashboard itself is static (templates/ops.html, static/ops/*.js): it reads the operator
API and listens on WS /ws/ops. The page carries only choices the server already makes
(moods, languages, lifecycle suggestions per deployment, the kiosk's recording bounds), as
JSON in a `<script type="application/json">`, never a secret. See docs/ops-page.md.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import HTTPConnection

from rooms.access import operator as auth
from rooms.config import Settings
from rooms.errors import Throttled
from rooms.resources import Resources

MOODS = ("clear", "hushed", "suspended", "weathered", "gathering")
LANGUAGES = {"en": "English", "es_mx_ca": "Español (MX/CA)"}
ACCESSIBILITY = {"large_high_contrast": "Large, high contrast"}
RECORDING_BOUNDS_S = (30, 300)  # the steward's max recording seconds is clamped to these


def script_json(value: Any) -> str:
    """JSON safe inside `<script type="application/json">` (no `</script>` can close it)."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace(
        "&", "\\u0026")


async def signed_in(conn: HTTPConnection, res: Resources) -> bool:
    """A valid ops session cookie from an allowed network (a bearer header counts too)."""
    if not auth.ops_network_allowed(conn, res.settings):
        return False
    try:
        return await auth.is_operator(conn, res)
    except Throttled:  # a bearer secret from a locked client: the sign-in page says why
        return False


async def locked_for_s(conn: HTTPConnection, res: Resources) -> int:
    """Seconds this browser (or its IP) stays locked out of sign-in; 0 when it is not."""
    keys = (auth.lockout_key(conn, res.settings), auth.ip_lockout_key(conn))
    return await res.ops_lockout.locked_for(*keys)


def login_view(conn: HTTPConnection, settings: Settings, locked_s: int) -> dict[str, Any]:
    return {"configured": bool(settings.ops_shared_secret.get_secret_value()),
            "network_ok": auth.ops_network_allowed(conn, settings),
            "locked_s": locked_s,
            "config": script_json({"lockedS": locked_s,
                                  "maxAttempts": settings.ops_login_max_attempts})}


def dashboard_config(settings: Settings, lifecycle: dict[str, tuple[str, ...]]) -> str:
    """The dashboard's JSON: fixed choices the server validates against, and its pacing."""
    return script_json({
        "deployment": settings.engine_deployment,
        "moods": list(MOODS),
        "languages": LANGUAGES,
        "accessibility": ACCESSIBILITY,
        "recordingBoundsS": list(RECORDING_BOUNDS_S),
        "lifecycle": {kind: list(values) for kind, values in lifecycle.items()},
        "statusPushS": settings.ops_status_push_s,
    })
