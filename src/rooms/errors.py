"""Domain errors. Each carries its HTTP status and a snake_case code; one handler renders them."""

from __future__ import annotations


class ConfigError(Exception):
    """A setting is invalid; the message is one line naming the variable."""


class RoomsError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None,
                 details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}  # extra fields of the error object (`opens_at`)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}


class NotFound(RoomsError):
    status = 404
    code = "not_found"


class Gone(RoomsError):
    status = 410
    code = "gone"


class Forbidden(RoomsError):
    status = 403
    code = "forbidden"


class Unauthorized(RoomsError):
    status = 401
    code = "unauthorized"


class Conflict(RoomsError):
    status = 409
    code = "conflict"


class TooLarge(RoomsError):
    status = 413
    code = "too_large"


class UnsupportedMedia(RoomsError):
    status = 415
    code = "unsupported_media_type"


class Throttled(RoomsError):
    status = 429
    code = "throttled"

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"Retry-After": str(max(1, retry_after_s))})


class Unavailable(RoomsError):
    status = 503
    code = "unavailable"
