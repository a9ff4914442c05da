"""What the real-time core needs from storage, declared here and satisfied by `storage`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol


class StoredDocument(Protocol):
    """A document as stored: a compacted snapshot (or None) and the updates logged after it."""

    @property
    def snapshot(self) -> bytes | None: ...
    @property
    def updates(self) -> list[bytes]: ...
    @property
    def last_id(self) -> int: ...


Merge = Callable[[list[bytes]], bytes]


class UpdateLog(Protocol):
    async def append(self, entries: Sequence[tuple[str, bytes]]) -> None:
        """Append (document, update) pairs in one round trip; all or nothing."""
        ...

    async def load(self, document: str) -> StoredDocument: ...

    async def load_after(self, document: str, after_id: int) -> StoredDocument:
        """Updates logged after `after_id` (no snapshot): catch-up after a gap."""
        ...

    async def compact(self, document: str, merge: Merge) -> int:
        """Merge snapshot + log into one snapshot under a per-document lock; return rows merged."""
        ...

    async def heads(self, documents: Sequence[str]) -> dict[str, int]:
        """The last log id of each document (0 if none): how far each has been written."""
        ...

    async def log_length(self, document: str) -> int: ...
