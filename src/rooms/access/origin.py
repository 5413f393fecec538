"""Is a browser request from this site's own pages? The `Origin` rule, once.

Used for every state-changing operator route (rooms.access.operator), sign-in and sign-out,
and the live websockets (rooms.live.guards re-exports it).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from rooms.config import Settings


def _host_only(value: str) -> str:
    """`Example.org:8443` -> `example.org`; `[::1]:80` -> `::1`."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def allowed_hosts(settings: Settings) -> frozenset[str]:
    return frozenset(_host_only(h) for h in settings.allowed_hosts.split(",") if h.strip())


def origin_allowed(conn: HTTPConnection, settings: Settings) -> bool:
    """No Origin (not a browser): judged by its token alone. Else its host must be allowed:
    one of ALLOWED_HOSTS ("*" allows any) or the host this request was addressed to."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    try:
        host = urlsplit(origin).hostname
    except ValueError:
        return False
    if not host:  # "null" (sandboxed frames, file://) and other opaque origins
        return False
    hosts = allowed_hosts(settings)
    if "*" in hosts or host in hosts:
        return True
    own = conn.headers.get("host")
    return own is not None and _host_only(own) == host
