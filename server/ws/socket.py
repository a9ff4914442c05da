"""The I/O shell shared by both endpoints: one reader, one writer, and how they end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from collab.errors import CollabError, ProtocolError
from collab.peer import Connection
from server.metrics import Metrics
from server.settings import Settings

log = logging.getLogger(__name__)


def new_connection(ws: WebSocket, settings: Settings) -> Connection:
    return Connection(
        ws,
        outbox=settings.ws_outbox_frames,
        outbox_bytes=settings.ws_outbox_bytes,
        send_timeout_s=settings.ws_idle_timeout_s,
        rate_per_s=settings.ws_rate_limit_per_s,
        gone=(WebSocketDisconnect,),
    )


async def receive_frames(ws: WebSocket, conn: Connection) -> AsyncIterator[bytes]:
    """Binary frames until the client leaves; text frames are a protocol error."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("bytes")
        if data is None:
            raise ProtocolError("text frames are not part of this protocol")
        yield data


async def serve_connection(
    conn: Connection,
    reader: Callable[[], Coroutine[Any, Any, None]],
    metrics: Metrics,
    protocol: str,
) -> None:
    """Run the reader beside the writer; whichever ends first ends the other."""

    async def read() -> None:
        try:
            await reader()
            conn.finish()
        except CollabError as exc:
            log.info("closing connection %s: %s", conn.id, exc.detail)
            metrics.closes.labels(str(exc.close_code)).inc()
            conn.close_soon(exc)
        except (WebSocketDisconnect, OSError, RuntimeError):
            conn.finish()

    gauge = metrics.connections.labels(protocol)
    gauge.inc()
    try:
        await _run(conn, read)
    finally:
        gauge.dec()


async def _run(conn: Connection, read: Callable[[], Coroutine[Any, Any, None]]) -> None:
    async with asyncio.TaskGroup() as group:
        reading = group.create_task(read(), name=f"read {conn.id}")
        await conn.write_loop()
        if not reading.done():
            # We sent a close (or the socket failed): give the client a moment to answer.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await asyncio.shield(reading)
            reading.cancel()
