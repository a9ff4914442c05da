"""Pure ASGI middleware: a request id on every request and response, and one access log line."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import error_body
from server.logs import redact, request_id

log = logging.getLogger("ua.access")
errors = logging.getLogger("server.errors")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            # Websocket frames are the hot path: don't wrap every send of a socket.
            await self.app(scope, receive, send_with_id if scope["type"] == "http" else send)
        except Exception:
            if scope["type"] != "http" or status:
                raise  # a response has begun: nothing else can be sent
            # Answered here, inside the request id: logged with it, and the 500 carries it.
            errors.exception("unhandled error")
            body = error_body("internal_error", "internal server error")
            await JSONResponse(body, 500)(scope, receive, send_with_id)
        finally:
            log.info(
                "%s %s %s",
                scope.get("method", "WS"),
                redact(scope["path"]),  # the invitation route carries its token in the path
                status,
                extra={"status": status, "ms": round((time.perf_counter() - started) * 1000, 1)},
            )
            request_id.reset(token)
