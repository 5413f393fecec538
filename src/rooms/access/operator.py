"""Who is an operator: the allowed networks, the shared secret, the session cookie.

An operator is a request from OPS_ALLOWED_NETWORKS (empty: any) that carries either
`Authorization: Bearer <OPS_SHARED_SECRET>` or a valid `rooms_ops` session cookie, which
`POST /ops/login` sets. `OperatorDep` guards the operator API; the live endpoints call
`is_operator` for /ws/ops.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import Depends, Request, Response
from starlette.requests import HTTPConnection

from rooms.access.sessions import binding
from rooms.config import Settings
from rooms.errors import Forbidden, Throttled, Unauthorized, Unavailable
from rooms.kit.clients import client_ip
from rooms.logging import get_logger

if TYPE_CHECKING:
    from rooms.resources import Resources

log = get_logger("rooms.access.operator")

COOKIE = "rooms_ops"


@dataclass(frozen=True, slots=True)
class Operator:
    via: Literal["session", "bearer"]


# --- guards (rooms.live.guards re-exports these two) ------------------------------------
def bearer_is_ops_secret(conn: HTTPConnection, settings: Settings) -> bool:
    """`Authorization: Bearer <OPS_SHARED_SECRET>`, compared in constant time."""
    header = conn.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    secret = settings.ops_shared_secret.get_secret_value()
    if scheme.lower() != "bearer" or not secret:
        return False
    return hmac.compare_digest(given.strip().encode(), secret.encode())


def ops_network_allowed(conn: HTTPConnection, settings: Settings) -> bool:
    """OPS_ALLOWED_NETWORKS (empty: any) against the client's address."""
    networks = settings.ops_networks()
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(client_ip(conn))
    except ValueError:
        return False
    return any(address in net for net in networks)


def secret_matches(given: str, settings: Settings) -> bool:
    secret = settings.ops_shared_secret.get_secret_value()
    return bool(secret) and hmac.compare_digest(given.encode(), secret.encode())


def session_binding(conn: HTTPConnection, settings: Settings) -> str:
    return binding(settings.ops_session_binding_mode, client_ip(conn),
                   conn.headers.get("user-agent", ""))


def lockout_key(conn: HTTPConnection, settings: Settings) -> str:
    """The client a sign-in attempt counts against (OPS_LOGIN_LOCKOUT_SCOPE), hashed."""
    source = client_ip(conn)
    if settings.ops_login_lockout_scope == "ip_user_agent":
        source += "|" + conn.headers.get("user-agent", "")
    return hashlib.sha256(source.encode("utf-8", "replace")).hexdigest()[:32]


def _ensure_network(conn: HTTPConnection, settings: Settings) -> None:
    if not ops_network_allowed(conn, settings):
        raise Forbidden("operator access is not allowed from this network",
                        code="ops_network_forbidden")


def _ensure_configured(settings: Settings) -> None:
    if not settings.ops_shared_secret.get_secret_value():
        raise Unavailable("operator sign-in is not configured (OPS_SHARED_SECRET is empty)",
                          code="ops_not_configured")


# --- who is asking ------------------------------------------------------------------------
async def operator(conn: HTTPConnection, res: Resources) -> Operator | None:
    """The bearer secret or a valid session cookie; None otherwise. Networks not checked."""
    settings = res.settings
    if bearer_is_ops_secret(conn, settings):
        return Operator("bearer")
    if await res.ops_sessions.valid(settings, conn.cookies.get(COOKIE),
                                    session_binding(conn, settings)):
        return Operator("session")
    return None


async def is_operator(conn: HTTPConnection, res: Resources) -> bool:
    return await operator(conn, res) is not None


async def require_operator(request: Request) -> Operator:
    """Dependency: 403 outside the allowed networks, 503 unconfigured, 401 without a session."""
    res: Resources = request.app.state.rooms
    _ensure_network(request, res.settings)
    _ensure_configured(res.settings)
    who = await operator(request, res)
    if who is None:
        raise Unauthorized("operator sign-in required", code="ops_auth_required")
    return who


OperatorDep = Annotated[Operator, Depends(require_operator)]


# --- signing in and out -------------------------------------------------------------------
async def sign_in(request: Request, res: Resources, secret: str) -> str:
    """Check the secret (under the lockout) and return a new session token."""
    settings = res.settings
    _ensure_network(request, settings)
    _ensure_configured(settings)
    key = lockout_key(request, settings)
    locked_for = await res.ops_lockout.locked_for(key)
    if locked_for:
        log.warning("ops.login.locked_out", client=client_ip(request), retry_after_s=locked_for)
        raise Throttled(f"too many failed sign-ins; try again in {locked_for} s",
                        retry_after_s=locked_for, code="ops_login_locked")
    if not secret_matches(secret, settings):
        attempt = await res.ops_lockout.fail(key, max_attempts=settings.ops_login_max_attempts,
                                             lockout_s=settings.ops_login_lockout_seconds)
        log.warning("ops.login.failed", client=client_ip(request), failures=attempt.failures,
                    locked_for_s=attempt.locked_for_s)
        raise Forbidden("that is not the operator secret", code="ops_bad_secret")
    await res.ops_lockout.clear(key)
    log.info("ops.login.ok", client=client_ip(request),
             binding=settings.ops_session_binding_mode)
    return res.ops_sessions.mint(settings, session_binding(request, settings))


async def sign_out(request: Request, res: Resources) -> None:
    if await res.ops_sessions.revoke(res.settings, request.cookies.get(COOKIE)):
        log.info("ops.logout", client=client_ip(request))


def _secure(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or settings.ops_session_cookie_secure


def set_session_cookie(response: Response, request: Request, settings: Settings,
                       token: str) -> None:
    """HttpOnly, SameSite=Strict, Path=/, Secure over https (or OPS_SESSION_COOKIE_SECURE)."""
    response.set_cookie(COOKIE, token, max_age=settings.ops_session_ttl_seconds, path="/",
                        httponly=True, samesite="strict", secure=_secure(request, settings))


def clear_session_cookie(response: Response, request: Request, settings: Settings) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=_secure(request, settings))
