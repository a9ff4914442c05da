"""JSON logs, each line carrying the request id of the request that wrote it, and no secrets."""

from __future__ import annotations

import contextvars
import logging
import re
import sys

from pythonjsonlogger.json import JsonFormatter

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


# Secrets that travel in URLs: access tokens in websocket query strings (browsers can't set
# headers there) and invitation tokens in the accept route's path.
_SECRETS = (
    (re.compile(r"([?&](?:access_|refresh_)?token=)[^&#\s\"']*", re.IGNORECASE), r"\1<redacted>"),
    (re.compile(r"(/api/invitations/)[^/?#\s\"']+"), r"\1<redacted>"),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites a record whose message holds a URL secret (uvicorn logs websocket URLs whole)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a broken format string: logging reports it, we have nothing to add
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def redact_server_logs() -> None:
    """Filter uvicorn's loggers (idempotent): they log request targets with query strings."""
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"levelname": "level", "asctime": "time", "name": "logger"},
        )
    )
    handler.addFilter(_RequestIdFilter())
    handler.addFilter(RedactSecrets())  # any other logger that prints a URL
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs each request
    redact_server_logs()
