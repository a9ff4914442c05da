"""A connection's outbox and its one writer task, and a peer: one connection in one room."""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from collab.errors import CollabError, RateLimited, SlowConsumer

log = logging.getLogger(__name__)


class Socket(Protocol):
    async def send_bytes(self, data: bytes) -> None: ...
    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class State(enum.Enum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class Connection:
    """Owns a socket's writes: a bounded outbox drained by a single writer task.

    `offer` never waits, so a room never waits for its slowest client: an outbox past its
    frame or byte bound closes that connection (1013) instead. Replies to the client's own
    requests (its sync) are exempt from the byte bound, not from the count: each peer has at
    most one unanswered sync request, so they are bounded by the peers on the socket.
    """

    def __init__(
        self,
        socket: Socket,
        *,
        outbox: int,
        outbox_bytes: int,
        send_timeout_s: float,
        rate_per_s: int,
        gone: tuple[type[Exception], ...] = (),
    ) -> None:
        self.socket = socket
        self.id = uuid.uuid4().hex[:12]
        self.state = State.OPEN
        self._outbox: asyncio.Queue[tuple[bytes, bool] | CollabError | None] = asyncio.Queue(outbox)
        self._max_bytes = outbox_bytes
        self._bytes = 0  # queued, bound-counted
        self.queued = 0  # frames accepted so far
        self.sent = 0  # frames handed to the socket so far
        self._send_timeout = send_timeout_s
        # What the socket raises when the client went away mid-send: a normal end, not an
        # error (the web framework's own disconnect exception, handed in by the server).
        self._gone: tuple[type[Exception], ...] = (OSError, RuntimeError, TimeoutError, *gone)
        self._rate = rate_per_s
        self._window = 0
        self._count = 0
        self.closed = asyncio.Event()
        self.close_error: CollabError | None = None
        self.last_sent = time.monotonic()  # for keep-alives: browsers see no websocket pings

    def offer(self, frame: bytes, *, reply: bool = False) -> int:
        """Queue a frame; return its sequence number (compare with `sent`)."""
        if self.state is not State.OPEN:
            return self.queued
        if not reply and self._bytes + len(frame) > self._max_bytes:
            self.close_soon(SlowConsumer(f"outbox over {self._max_bytes} bytes: client too slow"))
            return self.queued
        try:
            self._outbox.put_nowait((frame, reply))
        except asyncio.QueueFull:
            self.close_soon(SlowConsumer("outbox full: client too slow"))
            return self.queued
        if not reply:
            self._bytes += len(frame)
        self.queued += 1
        return self.queued

    def close_soon(self, error: CollabError) -> None:
        """Close after the frames already queued (or at once if the queue is full)."""
        if self.state is not State.OPEN:
            return
        self.state = State.CLOSING
        self.close_error = error
        log.info("closing connection %s: %s %s", self.id, error.close_code, error.detail)
        try:
            self._outbox.put_nowait(error)
        except asyncio.QueueFull:
            self._drain()
            self._outbox.put_nowait(error)
        self.closed.set()

    def finish(self) -> None:
        """The client went away: stop the writer without sending anything more."""
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        self._drain()
        self._outbox.put_nowait(None)
        self.closed.set()

    def _drain(self) -> None:
        while not self._outbox.empty():
            self._outbox.get_nowait()

    def count_messages(self, count: int) -> None:
        """Flood control over the messages a client sends (not its frames): raise
        RateLimited past the limit per second."""
        window = int(time.monotonic())
        if window != self._window:
            self._window, self._count = window, 0
        self._count += count
        if self._count > self._rate:
            raise RateLimited(f"more than {self._rate} messages per second")

    async def write_loop(self) -> None:
        """The only writer of this socket; returns once the socket is done."""
        try:
            while True:
                item = await self._outbox.get()
                if item is None:
                    return
                async with asyncio.timeout(self._send_timeout):
                    if isinstance(item, CollabError):
                        await self.socket.close(item.close_code, item.close_reason)
                        return
                    frame, reply = item
                    await self.socket.send_bytes(frame)
                    self.sent += 1
                    self.last_sent = time.monotonic()
                    if not reply:
                        self._bytes -= len(frame)
        except self._gone as exc:
            # The socket went away under us (or stalled): nothing more to send.
            log.debug("connection %s writer stopped: %r", self.id, exc)
        finally:
            self.state = State.CLOSED
            self.closed.set()


@dataclass(eq=False, slots=True)
class Peer:
    """One connection's membership of one room.

    `framing` names how this peer's frames are encoded, so a room encodes each message once
    per framing and gives the same bytes to every peer that shares it.
    """

    connection: Connection
    framing: Hashable
    encode: Callable[[Any], bytes]
    user_id: uuid.UUID | None
    read_only: bool
    rescope: Callable[[bool], None] | None = None  # tell the client its new read-only state
    client_ids: set[int] = field(default_factory=set)
    reply_due: int = 0  # sequence number of the last sync reply queued for this peer
    resync_due: int = 0  # and of the last SyncStep1 the room sent it to fill a gap
    resync_at: float = 0.0  # when that was sent (monotonic)
    resync_waiting: bool = False  # the next one is scheduled

    def offer(self, frame: bytes) -> None:
        self.connection.offer(frame)

    def reply(self, frame: bytes) -> None:
        """Queue the answer to this peer's own sync request."""
        self.reply_due = self.connection.offer(frame, reply=True)

    @property
    def awaiting_resync(self) -> bool:
        return self.connection.sent < self.resync_due

    @property
    def awaiting_reply(self) -> bool:
        """A sync reply of this peer is still queued: a second request adds nothing."""
        return self.connection.sent < self.reply_due
