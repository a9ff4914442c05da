"""`/collab`: the Hocuspocus protocol, several documents over one socket.

Each document on the socket authenticates with its own Auth message; frames are handled in
order, so a document's SyncStep1 that follows its Auth waits for the (awaited) auth check.
An update is acknowledged with SyncStatus only once it is committed: "saved" means saved.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket

from collab.errors import (
    AuthTimeout,
    CollabError,
    StorageUnavailable,
    TooManyDocuments,
    Unauthorized,
)
from collab.manager import RoomManager
from collab.peer import Connection, Peer
from collab.protocol import hocuspocus as hp
from collab.protocol import ywire
from collab.room import NeedsResync, Room
from server.services import Services
from server.ws.access import database_required, grant, principal_of
from server.ws.socket import new_connection, receive_frames, serve_connection

log = logging.getLogger(__name__)


def _framer(document: str, session: str | None) -> Any:
    def encode(message: Any) -> bytes:
        if isinstance(message, ywire.AwarenessMessage):
            message = hp.HAwareness(message.payload)
        return hp.encode(hp.HFrame(document, session, message))

    return encode


@dataclass(eq=False)
class Session:
    """One Hocuspocus socket: its connection and the documents joined on it."""

    ws: WebSocket
    services: Services
    conn: Connection
    joined: dict[str, tuple[Room, Peer]] = field(default_factory=dict)
    acks: dict[tuple[str, bool], bytes] = field(default_factory=dict)
    unrouted: int = 0  # messages dropped before any document was authenticated

    @property
    def rooms(self) -> RoomManager:
        assert self.services.rooms is not None
        return self.services.rooms

    def send(self, frame: hp.HFrame) -> None:
        self.conn.offer(hp.encode(frame))

    async def authenticate(self, frame: hp.HFrame, token: str) -> None:
        if frame.address in self.joined:
            return  # a token refresh for a document already open
        if len(self.joined) >= self.services.settings.ws_max_documents_per_socket:
            raise TooManyDocuments()
        checked_at = time.monotonic()
        try:
            with database_required():
                principal = principal_of(self.services, token)
                access = await grant(self.services, frame.document, principal)
        except StorageUnavailable:
            raise  # the whole socket: the provider reconnects and authenticates again
        except CollabError as exc:
            log.info("hocuspocus denied %.100r: %s", frame.document, exc.detail)
            self.send(frame.reply(hp.PermissionDenied(exc.detail)))
            return
        with database_required():
            room = await self.rooms.get(access.name)
        scope = hp.SCOPE_READ_ONLY if access.read_only else hp.SCOPE_READ_WRITE
        self.send(frame.reply(hp.Authenticated(scope)))
        peer = Peer(
            self.conn,
            ("h", frame.address),
            _framer(frame.document, frame.session),
            access.principal.user_id,
            access.read_only,
        )
        peer.rescope = lambda read_only: self.send(
            frame.reply(hp.Authenticated(hp.SCOPE_READ_ONLY if read_only else hp.SCOPE_READ_WRITE))
        )
        self.joined[frame.address] = (room, peer)
        room.join(peer)
        if self.rooms.closed_since(principal.user_id, checked_at):
            raise Unauthorized("this account is disabled or deleted")

    def leave(self, address: str) -> None:
        joined = self.joined.pop(address, None)
        if joined is not None:
            joined[0].leave(joined[1], time.monotonic())

    def leave_all(self) -> None:
        for address in list(self.joined):
            self.leave(address)

    def _unrouted(self) -> None:
        """A message for a document not (yet) authenticated here is dropped unanswered: the
        provider sends its sync and edits right behind its token, and resyncs once it is
        authenticated. Answers would let one frame buy thousands of replies."""
        if self.joined:
            return
        self.unrouted += 1
        if self.unrouted > self.services.settings.ws_preauth_messages:
            raise Unauthorized("authenticate first")

    def _acknowledge(self, frame: hp.HFrame, saved: bool) -> None:
        # One per update: encode each (address, saved) once per socket.
        key = (frame.address, saved)
        ack = self.acks.get(key)
        if ack is None:
            ack = self.acks[key] = hp.encode(frame.reply(hp.SyncStatus(saved)))
        self.conn.offer(ack)

    def _apply(self, frame: hp.HFrame, room: Room, peer: Peer, update: bytes) -> None:
        if peer.read_only:  # "saved" when it holds nothing new, as the reference server says
            self._acknowledge(frame, room.holds(update))
            return
        try:
            committed = room.apply_from_peer(peer, update)
        except NeedsResync:  # not stored (yet): the peer sends it again with what we lack
            self._acknowledge(frame, False)
            return
        if committed is None:
            self._acknowledge(frame, True)
        else:
            committed.add_done_callback(lambda f: self._acknowledge(frame, not f.cancelled()))

    def handle_sync(self, frame: hp.HFrame, room: Room, peer: Peer) -> None:
        message = frame.message
        if isinstance(message, hp.SyncReply):
            message = message.sync
        if isinstance(message, ywire.SyncStep1):
            room.answer_sync(peer, message.state_vector)
        elif isinstance(message, ywire.SyncStep2 | ywire.Update):
            self._apply(frame, room, peer, message.update)

    def handle(self, frame: hp.HFrame) -> None:
        message = frame.message
        if isinstance(message, hp.Ping):
            self.conn.offer(hp.encode(hp.HFrame("", None, hp.Pong())))
            return
        joined = self.joined.get(frame.address)
        if joined is None:
            self._unrouted()
            return
        room, peer = joined
        if isinstance(message, hp.HAwareness):
            room.awareness_from_peer(peer, message.payload)
        elif isinstance(message, hp.HQueryAwareness):
            snapshot = room.awareness_snapshot()
            if snapshot is not None:
                peer.offer(peer.encode(ywire.AwarenessMessage(snapshot)))
        elif isinstance(message, hp.Close):
            self.leave(frame.address)
        else:
            self.handle_sync(frame, room, peer)

    async def read(self) -> None:
        settings = self.services.settings
        deadline = asyncio.get_running_loop().time() + settings.ws_auth_timeout_s
        try:
            async with asyncio.timeout_at(deadline) as auth_clock:
                async for data in receive_frames(self.ws, self.conn):
                    frames = hp.decode(
                        data,
                        max_size=settings.ws_max_message_bytes,
                        max_messages=settings.ws_max_messages_per_frame,
                    )
                    self.conn.count_messages(len(frames))
                    for frame in frames:
                        if isinstance(frame.message, hp.AuthToken):
                            await self.authenticate(frame, frame.message.token)
                            if self.joined:
                                auth_clock.reschedule(None)
                        else:
                            self.handle(frame)
        except TimeoutError:
            raise AuthTimeout("no document authenticated in time") from None


async def hocuspocus_endpoint(ws: WebSocket) -> None:
    services: Services = ws.app.state.services
    await ws.accept()
    session = Session(ws, services, new_connection(ws, services.settings))
    try:
        await serve_connection(session.conn, session.read, services.metrics, "hocuspocus")
    finally:
        session.leave_all()
