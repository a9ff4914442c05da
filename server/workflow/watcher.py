"""Turns edits in phase rooms into status changes, debounced: many keystrokes are one change."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg

from collab.manager import RoomManager
from collab.peer import Peer
from collab.room import Room
from collab.types import DocumentName
from server.workflow import status
from server.workflow.meta import publish_changes, seed_meta
from storage.errors import UNREACHABLE
from storage.repos import phases

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4096)
def _parse(name: str) -> DocumentName:
    return DocumentName.parse(name)


class ContentWatcher:
    def __init__(self, db: asyncpg.Pool, *, debounce_s: float, max_wait_s: float) -> None:
        self._db = db
        self._debounce = debounce_s
        self._max_wait = max_wait_s
        # first and last change (monotonic), and the wall time of the last: what is recorded
        self._due: dict[tuple[uuid.UUID, int], tuple[float, float, float]] = {}
        self._wake = asyncio.Event()
        self.rooms: RoomManager | None = None
        # Called after a phase's change is recorded (debounced), e.g. to re-index it.
        self.after_change: Callable[[uuid.UUID, int], Awaitable[None]] | None = None

    def on_change(self, room: Room, origin: Peer | str) -> None:
        # Called for every edit: keep it to a cached parse and two dict operations.
        name = _parse(room.name)
        if name.phase is None:
            return
        now = time.monotonic()
        key = (name.project_id, name.phase)
        first = self._due[key][0] if key in self._due else now
        self._due[key] = (first, now, time.time())
        self._wake.set()

    async def on_load(self, name: DocumentName, room: Room) -> None:
        """The manager's seeder: watch phase rooms, fill the meta document from the database."""
        if name.phase is not None:
            room.on_change = self.on_change
        else:
            seed_meta(room, await phases.list_phases(self._db, name.project_id))

    def _ready(self, now: float) -> list[tuple[uuid.UUID, int]]:
        return [
            key
            for key, (first, last, _) in self._due.items()
            if now - last >= self._debounce or now - first >= self._max_wait
        ]

    async def _record(self, project_id: uuid.UUID, number: int, edited: float) -> None:
        at = datetime.fromtimestamp(edited, UTC)
        changes = await status.content_changed(self._db, project_id, number, at)
        if changes and self.rooms is not None:
            await publish_changes(self.rooms, project_id, changes)
        if changes and self.after_change is not None:
            await self.after_change(project_id, number)

    async def run(self) -> None:
        while True:
            if not self._due:
                self._wake.clear()
                await self._wake.wait()
            await asyncio.sleep(min(self._debounce, 0.1))
            for key in self._ready(time.monotonic()):
                await self._record_quietly(key)

    async def _record_quietly(self, key: tuple[uuid.UUID, int]) -> None:
        _, _, edited = self._due.pop(key)
        try:
            await self._record(*key, edited)
        except UNREACHABLE as exc:
            # The database is away: try again after another debounce, unless a later edit
            # is already due (it carries the later time).
            log.warning("status update for %s phase %s waits for the database: %s", *key, exc)
            now = time.monotonic()
            self._due.setdefault(key, (now, now, edited))
        except Exception:
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # a cancel that asyncpg turned into
                raise asyncio.CancelledError() from None  # a timeout is still a cancel
            log.exception("status update for %s phase %s failed", *key)

    async def flush(self) -> None:
        """Record every pending change now (shutdown); one failing does not stop the rest."""
        for key in list(self._due):
            await self._record_quietly(key)


@asynccontextmanager
async def open_watcher(watcher: ContentWatcher) -> AsyncIterator[ContentWatcher]:
    async with asyncio.TaskGroup() as group:
        task = group.create_task(watcher.run(), name="content-watcher")
        try:
            yield watcher
        finally:
            task.cancel()
            await watcher.flush()
