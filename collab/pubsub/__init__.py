"""How nodes tell each other about accepted updates, awareness and control events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol


class PubSub(Protocol):
    """Topic-based fan-out between nodes. Payloads are opaque, non-empty bytes; a node never
    receives its own messages back.

    Delivery is fast, not certain: a subscriber reads the messages of a topic in the order
    they were published, or an empty payload where some were lost (the broker was away, a
    queue overflowed, a connection dropped). Whoever reads must then recover them from
    somewhere durable, here the update log."""

    node_id: str

    def publish(self, topic: str, payload: bytes) -> None: ...

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]: ...
