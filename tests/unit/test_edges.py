"""Edges of the server's I/O shell: an error's response and log line, a client gone mid-send."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.websockets import WebSocketDisconnect

from collab.peer import Connection
from server.middleware import RequestIdMiddleware


async def broken(request: Request) -> Response:
    raise ValueError("a bug")


async def test_an_unhandled_error_is_a_500_with_its_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # As in create_app: Starlette's own error middleware outside, ours inside it.
    app = Starlette(routes=[Route("/broken", broken)], middleware=[Middleware(RequestIdMiddleware)])
    caplog.set_level(logging.INFO)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.get("/broken", headers={"x-request-id": "req-42"})
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "req-42"
    assert r.json()["error"]["code"] == "internal_error"
    access = [rec for rec in caplog.records if rec.name == "ua.access"]
    assert [getattr(rec, "status", None) for rec in access] == [500]
    assert any(rec.name == "server.errors" and rec.exc_info for rec in caplog.records)


class GoneSocket:
    async def send_bytes(self, data: bytes) -> None:
        raise WebSocketDisconnect(1006)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        raise WebSocketDisconnect(1006)


async def test_a_client_gone_mid_send_ends_the_writer_quietly() -> None:
    conn = Connection(
        GoneSocket(),
        outbox=8,
        outbox_bytes=1024,
        send_timeout_s=1,
        rate_per_s=10,
        gone=(WebSocketDisconnect,),
    )
    conn.offer(b"frame")
    await asyncio.wait_for(conn.write_loop(), 2)  # returns instead of raising
    assert conn.closed.is_set()
