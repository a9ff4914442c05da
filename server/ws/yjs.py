"""`/yjs/{document}?token=JWT`: the y-websocket protocol, a thin shell over a room."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from starlette.websockets import WebSocket

from collab.errors import CollabError, Unauthorized
from collab.peer import Connection, Peer
from collab.protocol import ywire
from collab.room import NeedsResync, Room
from server.services import Services
from server.settings import Settings
from server.ws.access import database_required, grant, principal_of
from server.ws.socket import new_connection, receive_frames, serve_connection

log = logging.getLogger(__name__)


def handle(room: Room, peer: Peer, message: ywire.YMessage) -> None:
    if isinstance(message, ywire.SyncStep1):
        room.answer_sync(peer, message.state_vector)
    elif isinstance(message, ywire.SyncStep2 | ywire.Update):
        if peer.read_only:
            return  # a viewer's edits are dropped; it was told nothing else is possible
        with contextlib.suppress(NeedsResync):  # the peer was asked to send what we lack
            room.apply_from_peer(peer, message.update)
    elif isinstance(message, ywire.AwarenessMessage):
        room.awareness_from_peer(peer, message.payload)
    elif isinstance(message, ywire.QueryAwareness):
        snapshot = room.awareness_snapshot()
        if snapshot is not None:
            peer.offer(peer.encode(ywire.AwarenessMessage(snapshot)))


async def _read(
    ws: WebSocket, conn: Connection, room: Room, peer: Peer, settings: Settings
) -> None:
    async for frame in receive_frames(ws, conn):
        messages = ywire.decode(
            frame,
            max_size=settings.ws_max_message_bytes,
            max_messages=settings.ws_max_messages_per_frame,
        )
        conn.count_messages(len(messages))
        for message in messages:
            handle(room, peer, message)


async def yjs_endpoint(ws: WebSocket) -> None:
    services: Services = ws.app.state.services
    settings = services.settings
    await ws.accept()
    assert services.rooms is not None
    checked_at = time.monotonic()
    try:
        with database_required():
            async with asyncio.timeout(settings.ws_auth_timeout_s):
                principal = principal_of(services, ws.query_params.get("token"))
                access = await grant(services, ws.path_params["name"], principal)
            room = await services.rooms.get(access.name)
    except CollabError as exc:
        log.info("yjs refused: %s %s", exc.close_code, exc.detail)
        await ws.close(exc.close_code, exc.close_reason)
        return
    conn = new_connection(ws, settings)
    peer = Peer(conn, "y", ywire.encode, principal.user_id, access.read_only)
    room.join(peer)
    if services.rooms.closed_since(principal.user_id, checked_at):
        conn.close_soon(Unauthorized("this account is disabled or deleted"))
    try:
        await serve_connection(
            conn, lambda: _read(ws, conn, room, peer, settings), services.metrics, "yjs"
        )
    finally:
        room.leave(peer, time.monotonic())
