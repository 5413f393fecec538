"""Structured JSON logs through structlog; stdlib loggers (uvicorn, alembic) go the same way.

No token reaches a log line: every event, ours and the libraries' (uvicorn writes
`"WebSocket /ws/live?token=…" [accepted]` for each handshake), goes through `redact`, which
replaces the value of a `token=` query parameter and anything spelled like a signed token
(`<base64url body>.<base64url MAC>`, as in `/api/v1/media/raw/<token>`) with `[redacted]`.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

if "structlog" not in sys.modules and "rich" not in sys.modules:
    # structlog imports rich (and with it pygments, ~4 MiB resident) for pretty console
    # tracebacks whenever it is installed; rooms writes JSON lines only, so structlog is
    # imported with rich hidden. Code that uses rich itself (`rooms import`) imports it
    # normally, afterwards.
    sys.modules["rich"] = None  # type: ignore[assignment]
    try:
        import structlog
    finally:
        del sys.modules["rich"]
import structlog

REDACTED = "[redacted]"
_SECRETS = re.compile(
    r"(?<=[?&;]token=)[^&\s\"'#]+"          # a token query parameter, whatever it holds
    r"|(?<=[?&;]secret=)[^&\s\"'#]+"
    r"|[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")  # a signed token: body.MAC (base64url)


def redact(text: str) -> str:
    """`text` with token query values and signed-token spellings replaced."""
    return _SECRETS.sub(REDACTED, text)


def _redact_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
    return event


class _RedactRecords(logging.Filter):
    """For stdlib records (uvicorn, arq): format the message once, redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def configure_logging(level: str = "info") -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_event,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RedactRecords())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.processors.JSONRenderer()],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq", "alembic"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
