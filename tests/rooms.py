"""The real-time core without a network: an in-memory update log and socket, real rooms.

`MemoryLog` is a second implementation of `collab.persistence.UpdateLog` (Postgres is the
first); `MemorySocket` keeps what a connection sends. Rooms, the journal, the manager and the
local pub/sub are the production ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Map, XmlFragment

from collab.journal import Journal, open_journal
from collab.manager import RoomManager, open_room_manager
from collab.peer import Connection, Peer
from collab.persistence import Merge
from collab.protocol import ywire
from collab.pubsub.local import LocalPubSub
from collab.room import RoomLimits
from collab.types import DocumentName


@dataclass(frozen=True, slots=True)
class Stored:
    snapshot: bytes | None
    updates: list[bytes]
    last_id: int


@dataclass
class MemoryLog:
    rows: list[tuple[int, str, bytes]] = field(default_factory=list)

    async def append(self, entries: Sequence[tuple[str, bytes]]) -> None:
        for document, update in entries:
            self.rows.append((len(self.rows) + 1, document, update))

    async def load(self, document: str) -> Stored:
        return await self.load_after(document, 0)

    async def load_after(self, document: str, after_id: int) -> Stored:
        rows = [(i, u) for i, d, u in self.rows if d == document and i > after_id]
        return Stored(None, [u for _, u in rows], rows[-1][0] if rows else after_id)

    async def compact(self, document: str, merge: Merge) -> int:
        return 0

    async def log_length(self, document: str) -> int:
        return sum(1 for _, d, _ in self.rows if d == document)

    async def heads(self, documents: Sequence[str]) -> dict[str, int]:
        last = {d: i for i, d, _ in self.rows}
        return {d: last.get(d, 0) for d in documents}

    def updates(self, document: str) -> list[bytes]:
        return [u for _, d, u in self.rows if d == document]


class MemorySocket:
    """Keeps what is sent; a stalled one never completes a send (a client that stopped
    reading)."""

    def __init__(self, *, stalled: bool = False) -> None:
        self.frames: list[bytes] = []
        self.close_code: int | None = None
        self._stalled = stalled

    async def send_bytes(self, data: bytes) -> None:
        if self._stalled:
            await asyncio.Event().wait()
        self.frames.append(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.close_code = code


@dataclass
class Harness:
    manager: RoomManager
    journal: Journal
    log: MemoryLog
    group: asyncio.TaskGroup
    writers: list[asyncio.Task[None]] = field(default_factory=list)

    def peer(
        self, *, read_only: bool = False, stalled: bool = False, **limits: Any
    ) -> tuple[Peer, MemorySocket]:
        """A y-websocket peer whose writer runs until the harness closes."""
        socket = MemorySocket(stalled=stalled)
        options: dict[str, Any] = {
            "outbox": 1024,
            "outbox_bytes": 1 << 20,
            "send_timeout_s": 5.0,
            "rate_per_s": 1000,
        }
        options.update(limits)
        connection = Connection(socket, **options)
        self.writers.append(self.group.create_task(connection.write_loop()))
        return Peer(connection, "y", ywire.encode, None, read_only), socket


@contextlib.asynccontextmanager
async def harness(limits: RoomLimits | None = None) -> AsyncIterator[Harness]:
    log = MemoryLog()
    limits = limits or RoomLimits(settle_s=0.05, idle_unload_s=3600)
    async with (
        open_journal(Journal(log, retry_s=0.01)) as journal,
        open_room_manager(
            log_store=log, journal=journal, pubsub=LocalPubSub(), limits=limits
        ) as manager,
        asyncio.TaskGroup() as group,
    ):
        state = Harness(manager, journal, log, group)
        try:
            yield state
        finally:
            for writer in state.writers:
                writer.cancel()


def content_of(doc: Doc[Any]) -> str:
    """What a reader sees of a phase document: its XML and its `ai` map."""
    ai = json.dumps(doc.get("ai", type=Map).to_py(), sort_keys=True, default=str)
    return f"{doc.get('content', type=XmlFragment)}|{ai}"


def phase(n: int = 1) -> DocumentName:
    return DocumentName(uuid.UUID(int=n), 1)
