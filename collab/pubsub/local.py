"""In-process pub/sub: the default for one node, and a way to run several nodes in one process."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from collab.pubsub.inbox import Inbox

log = logging.getLogger(__name__)


class LocalBroker:
    """Shared by every LocalPubSub that should hear each other."""

    def __init__(self, inbox_bytes: int = 8 * 1024 * 1024) -> None:
        self._subscribers: dict[str, set[tuple[str, Inbox]]] = {}
        self._inbox_bytes = inbox_bytes

    def publish(self, node_id: str, topic: str, payload: bytes) -> None:
        for owner, inbox in self._subscribers.get(topic, ()):
            if owner != node_id and not inbox.put(payload):
                log.warning("pub/sub subscriber on %s is full; it will catch up", topic)

    @asynccontextmanager
    async def subscribe(self, node_id: str, topic: str) -> AsyncIterator[AsyncIterator[bytes]]:
        entry = (node_id, Inbox(self._inbox_bytes))
        self._subscribers.setdefault(topic, set()).add(entry)
        try:
            yield entry[1].messages()
        finally:
            subscribers = self._subscribers[topic]
            subscribers.discard(entry)
            if not subscribers:
                del self._subscribers[topic]


class LocalPubSub:
    def __init__(self, broker: LocalBroker | None = None, node_id: str | None = None) -> None:
        self.node_id = node_id or uuid.uuid4().hex[:12]
        self._broker = broker or LocalBroker()

    def publish(self, topic: str, payload: bytes) -> None:
        self._broker.publish(self.node_id, topic, payload)

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        return self._broker.subscribe(self.node_id, topic)
