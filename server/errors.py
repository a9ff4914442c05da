"""Every failure as one HTTP status and one JSON shape: {"error": {"code", "message"}}."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ai.errors import AiError
from storage.errors import UNREACHABLE, DatabaseUnavailable
from storage.errors import Conflict as StorageConflict
from storage.errors import NotFound as StorageNotFound

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers


class MalformedJson(ApiError):
    status, code = 400, "malformed_json"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class Gone(ApiError):
    status, code = 410, "gone"


class TooLarge(ApiError):
    status, code = 413, "payload_too_large"


class Invalid(ApiError):
    status, code = 422, "validation_error"


class TooManyRequests(ApiError):
    status, code = 429, "rate_limited"


class Unavailable(ApiError):
    status, code = 503, "unavailable"


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        error_body(exc.code, exc.message, exc.details), exc.status, headers=exc.headers
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)


async def storage_not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse(error_body("not_found", str(exc)), 404)


async def storage_conflict(request: Request, exc: Exception) -> Response:
    return JSONResponse(error_body("conflict", str(exc)), 409)


async def unavailable(request: Request, exc: Exception) -> Response:
    return JSONResponse(error_body("unavailable", "the database is unavailable"), 503)


async def ai_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AiError)
    code = "ai_unavailable" if exc.http_status == 503 else "ai_error"
    return JSONResponse(error_body(code, exc.detail), exc.http_status)


async def internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(error_body("internal_error", "internal server error"), 500)


EXCEPTION_HANDLERS = {
    ApiError: api_error,
    HTTPException: http_error,
    StorageNotFound: storage_not_found,
    StorageConflict: storage_conflict,
    DatabaseUnavailable: unavailable,
    **{kind: unavailable for kind in UNREACHABLE},
    AiError: ai_error,
    Exception: internal_error,
}
