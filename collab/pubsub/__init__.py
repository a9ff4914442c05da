"""How nodes tell each other about accepted updates, awareness and control events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol


class PubSub(Protocol):
    """Topic-based fan-out between nodes. Payloads are opaque bytes; a node never receives
    its own messages back."""

    node_id: str

    def publish(self, topic: str, payload: bytes) -> None: ...

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]: ...
