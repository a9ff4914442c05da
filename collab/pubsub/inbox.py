"""What one subscription has received and not yet read, bounded by bytes."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

LOST = b""  # yielded where messages were dropped: the reader must catch up from the log


class Inbox:
    """A message that does not fit is dropped, and the reader gets `LOST` before the next
    one it reads: a subscriber always learns that it missed something."""

    def __init__(self, max_bytes: int) -> None:
        self._items: deque[bytes] = deque()
        self._bytes = 0
        self._max_bytes = max_bytes
        self._lost = False
        self._ready = asyncio.Event()

    def put(self, payload: bytes) -> bool:
        """Queue `payload`; False if it was dropped (the reader will get `LOST`)."""
        self._ready.set()
        if self._bytes + len(payload) > self._max_bytes:
            self._lost = True
            return False
        self._items.append(payload)
        self._bytes += len(payload)
        return True

    def lose(self) -> None:
        """The transport may have missed messages (it reconnected): tell the reader."""
        self._lost = True
        self._ready.set()

    async def messages(self) -> AsyncIterator[bytes]:
        while True:
            if self._lost:
                self._lost = False
                yield LOST
            elif self._items:
                payload = self._items.popleft()
                self._bytes -= len(payload)
                yield payload
            else:
                self._ready.clear()
                await self._ready.wait()
