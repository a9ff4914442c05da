"""Group-commit writer: every accepted update is appended to the log, many per round trip.

Callers get a future that resolves once their update is committed, so an acknowledgement
("saved") can wait for the database without blocking the socket that sent the update.

When the database is away, batches are retried in order until it returns; what waits is
bounded by bytes (`max_bytes`): past it `accepts` says no, and rooms refuse new edits
rather than hold them unsaved without limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from collab.persistence import UpdateLog

log = logging.getLogger(__name__)

_Entry = tuple[str, bytes, float, "asyncio.Future[None]"]


class Journal:
    def __init__(
        self,
        store: UpdateLog,
        *,
        max_batch: int = 512,
        on_commit: Callable[[float], None] | None = None,
        retry_s: float = 0.5,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self._store = store
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._retry_s = retry_s
        self._max_bytes = max_bytes
        self._queue: asyncio.Queue[_Entry] = asyncio.Queue()
        self._unsettled = 0  # submitted, not yet committed
        self.unsettled_bytes = 0
        self.failing_since: float | None = None  # monotonic time of the first failed append
        self._idle = asyncio.Event()
        self._idle.set()

    def accepts(self, size: int) -> bool:
        """Whether an update of `size` bytes fits in what may wait for the database."""
        return self.unsettled_bytes + size <= self._max_bytes

    def submit(self, document: str, update: bytes) -> asyncio.Future[None]:
        """Queue an accepted update (callers check `accepts` first; a server change that
        went over is still kept: it has already happened)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((document, update, time.perf_counter(), future))
        self._unsettled += 1
        self.unsettled_bytes += len(update)
        self._idle.clear()
        return future

    async def flush(self) -> None:
        """Wait until everything submitted so far is committed."""
        await self._idle.wait()

    async def _write_batch(self, batch: list[_Entry]) -> None:
        reported = 0.0
        while True:
            try:
                await self._store.append([(doc, update) for doc, update, _, _ in batch])
                if self.failing_since is not None:
                    down = time.monotonic() - self.failing_since
                    log.warning("journal writes again after %.1f s", down)
                    self.failing_since = None
                return
            except Exception as exc:  # keep the updates and retry; never drop an accepted one
                now = time.monotonic()
                if self.failing_since is None:
                    self.failing_since = now
                if now - reported >= 10:
                    reported = now
                    log.warning(
                        "journal append failed (%s); %d updates (%d bytes) wait, retrying",
                        exc,
                        self._unsettled,
                        self.unsettled_bytes,
                    )
                await asyncio.sleep(self._retry_s)

    def _settle(self, batch: list[_Entry]) -> None:
        now = time.perf_counter()
        self._unsettled -= len(batch)
        self.unsettled_bytes -= sum(len(update) for _, update, _, _ in batch)
        for _, _, received, future in batch:
            if not future.done():
                future.set_result(None)
            if self._on_commit is not None:
                self._on_commit(now - received)
        if not self._unsettled:
            self._idle.set()

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._write_batch(batch)
            self._settle(batch)


@asynccontextmanager
async def open_journal(journal: Journal) -> AsyncIterator[Journal]:
    """Run the writer; on exit, commit everything queued, then stop it."""
    async with asyncio.TaskGroup() as group:
        writer = group.create_task(journal.run(), name="journal-writer")
        try:
            yield journal
        finally:
            await journal.flush()
            writer.cancel()
