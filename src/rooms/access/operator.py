"""Who is an operator: the allowed networks, the shared secret, the session cookie.

An operator is a request from OPS_ALLOWED_NETWORKS (empty: any) that carries either
`Authorization: Bearer <OPS_SHARED_SECRET>` or a valid `rooms_ops` session cookie, which
`POST /ops/login` sets. `OperatorDep` guards the operator API; the live endpoints call
`is_operator` for /ws/ops. A state-changing request (POST, PUT, PATCH, DELETE) with an
`Origin` that is not this site's is refused (403 `ops_origin_forbidden`) before anything
else; one without an `Origin` (a script with the Bearer secret) is judged by its secret.

Every place a secret is checked (sign-in, a Bearer header on the operator API, on
`POST /api/v1/live/token` and on /ws/ops) counts a wrong one against two lockout counters:
the client's (OPS_LOGIN_LOCKOUT_SCOPE, OPS_LOGIN_MAX_ATTEMPTS) and its IP's, whatever the
user agent (OPS_LOGIN_IP_MAX_ATTEMPTS). While either is locked, every secret from there is
refused unchecked (429 `ops_login_locked`; /ws/ops closes with 4429). A session cookie
already issued keeps working: it is signed, so there is nothing to guess.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import Depends, Request, Response
from starlette.requests import HTTPConnection

from rooms.access.lockout import Attempt
from rooms.access.origin import origin_allowed
from rooms.access.sessions import binding
from rooms.config import Settings
from rooms.errors import Forbidden, Throttled, Unauthorized, Unavailable
from rooms.kit.clients import client_ip
from rooms.logging import get_logger

Via = Literal["login", "bearer", "ws"]  # where a secret was tried (metrics label)

if TYPE_CHECKING:
    from rooms.resources import Resources

log = get_logger("rooms.access.operator")

COOKIE = "rooms_ops"


@dataclass(frozen=True, slots=True)
class Operator:
    via: Literal["session", "bearer"]


# --- guards (rooms.live.guards re-exports these two) ------------------------------------
def bearer_given(conn: HTTPConnection) -> str | None:
    """The secret of an `Authorization: Bearer <secret>` header; None without one."""
    scheme, _, given = conn.headers.get("authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else None


def bearer_is_ops_secret(conn: HTTPConnection, settings: Settings) -> bool:
    """`Authorization: Bearer <OPS_SHARED_SECRET>`, compared in constant time. Counts nothing."""
    given = bearer_given(conn)
    return given is not None and secret_matches(given, settings)


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


def ip_lockout_key(conn: HTTPConnection) -> str:
    """The IP a sign-in attempt also counts against (OPS_LOGIN_IP_MAX_ATTEMPTS), hashed."""
    ip = client_ip(conn).encode("utf-8", "replace")
    return "ip:" + hashlib.sha256(ip).hexdigest()[:32]


def _ensure_network(conn: HTTPConnection, settings: Settings) -> None:
    if not ops_network_allowed(conn, settings):
        raise Forbidden("operator access is not allowed from this network",
                        code="ops_network_forbidden")


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def ensure_same_site(conn: HTTPConnection, settings: Settings) -> None:
    """403 `ops_origin_forbidden` for a browser request from another site's page."""
    if not origin_allowed(conn, settings):
        raise Forbidden("operator changes are only accepted from this site's own pages",
                        code="ops_origin_forbidden")


def _ensure_configured(settings: Settings) -> None:
    if not settings.ops_shared_secret.get_secret_value():
        raise Unavailable("operator sign-in is not configured (OPS_SHARED_SECRET is empty)",
                          code="ops_not_configured")


# --- the lockout --------------------------------------------------------------------------
async def ensure_not_locked(conn: HTTPConnection, res: Resources, via: Via) -> None:
    """429 `ops_login_locked` (with Retry-After) while this client or its IP is locked."""
    left = await res.ops_lockout.locked_for(lockout_key(conn, res.settings),
                                            ip_lockout_key(conn))
    if left:
        res.metrics.ops_locked_refusals.labels(via).inc()
        log.warning("ops.login.locked_out", client=client_ip(conn), via=via,
                    retry_after_s=left)
        raise Throttled(f"too many failed sign-ins; try again in {left} s",
                        retry_after_s=left, code="ops_login_locked")


async def count_failure(conn: HTTPConnection, res: Resources, via: Via) -> Attempt:
    """One wrong secret against the client's counter and its IP's; the longer lock wins."""
    settings = res.settings
    lockout_s = settings.ops_login_lockout_seconds
    mine = await res.ops_lockout.fail(lockout_key(conn, settings), lockout_s=lockout_s,
                                      max_attempts=settings.ops_login_max_attempts)
    shared = await res.ops_lockout.fail(ip_lockout_key(conn), lockout_s=lockout_s,
                                        max_attempts=settings.ops_login_ip_max_attempts)
    res.metrics.ops_auth_failures.labels(via).inc()
    for scope, attempt in (("client", mine), ("ip", shared)):
        if attempt.locked_for_s:
            res.metrics.ops_lockouts.labels(scope).inc()
            log.warning("ops.login.lockout", client=client_ip(conn), scope=scope,
                        locked_for_s=attempt.locked_for_s)
    locked_for = max(mine.locked_for_s, shared.locked_for_s)
    log.warning("ops.login.failed", client=client_ip(conn), via=via, failures=mine.failures,
                ip_failures=shared.failures, locked_for_s=locked_for)
    return Attempt(mine.failures, locked_for)


# --- who is asking ------------------------------------------------------------------------
async def operator(conn: HTTPConnection, res: Resources, via: Via = "bearer") -> Operator | None:
    """The bearer secret or a valid session cookie; None otherwise. Networks not checked.

    A Bearer header is checked under the lockout: refused unchecked while locked (429), and
    a wrong secret counts as a failed sign-in from this client (`via` labels the metric).
    """
    settings = res.settings
    given = bearer_given(conn)
    if given is not None and settings.ops_shared_secret.get_secret_value():
        await ensure_not_locked(conn, res, via)
        if secret_matches(given, settings):
            return Operator("bearer")
        await count_failure(conn, res, via)
    if await res.ops_sessions.valid(settings, conn.cookies.get(COOKIE),
                                    session_binding(conn, settings)):
        return Operator("session")
    return None


async def is_operator(conn: HTTPConnection, res: Resources, via: Via = "bearer") -> bool:
    """`operator(...)` is not None; raises Throttled for a locked client's bearer secret."""
    return await operator(conn, res, via) is not None


async def require_operator(request: Request) -> Operator:
    """Dependency: 403 for a state change from a foreign Origin or outside the allowed
    networks, 503 unconfigured, 401 without a session, 429 for a bearer secret from a locked
    client or IP."""
    res: Resources = request.app.state.rooms
    if request.method in UNSAFE_METHODS:
        ensure_same_site(request, res.settings)
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
    await ensure_not_locked(request, res, "login")
    if not secret_matches(secret, settings):
        await count_failure(request, res, "login")
        raise Forbidden("that is not the operator secret", code="ops_bad_secret")
    await res.ops_lockout.clear(lockout_key(request, settings))
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
