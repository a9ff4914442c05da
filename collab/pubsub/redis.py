"""Redis pub/sub between nodes: one channel per topic, one reader loop per process.

Each message is `node_id | payload`; a node skips its own. Publishing goes through one
writer task that pipelines whatever is queued (one round trip per batch). A batch that
fails is retried, in order, until Redis takes it; what waits is bounded by bytes, and a
message dropped past the bound is followed, once Redis is back, by an empty payload on its
topic: the other nodes learn that they missed something. When the reader's connection
drops, it reconnects with backoff and gives every subscription an empty payload too, since
Redis kept nothing for it meanwhile (see `collab.pubsub.PubSub`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from collab.pubsub.inbox import LOST, Inbox

log = logging.getLogger(__name__)

SEPARATOR = b"|"
# What a dropped connection raises. RuntimeError too: under uvloop, writing to a transport
# that was just closed raises it from inside the client (uvloop issues 506, 685), and a loop
# that let it through would end this node's fan-out for good.
CONNECTION_ERRORS = (RedisError, OSError, TimeoutError, RuntimeError)
BATCH = 512  # messages per pipelined round trip


@dataclass
class RedisStats:
    published: int = 0
    received: int = 0
    dropped: int = 0
    reconnects: int = 0
    retries: int = 0  # failed batches, published again


@dataclass(eq=False)
class _Topic:
    inboxes: set[Inbox] = field(default_factory=set)


class RedisPubSub:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "ua",
        node_id: str | None = None,
        outbox_bytes: int = 32 * 1024 * 1024,
        inbox_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self.node_id = node_id or uuid.uuid4().hex[:12]
        self.stats = RedisStats()
        self.connected = asyncio.Event()
        self._client = client
        self._prefix = prefix
        self._inbox_bytes = inbox_bytes
        self._topics: dict[str, _Topic] = {}
        self._outbox: deque[tuple[str, bytes]] = deque()
        self._outbox_bytes = 0
        self._max_outbox_bytes = outbox_bytes
        self._lost: set[str] = set()  # topics with dropped messages: owed a LOST notice
        self._wake = asyncio.Event()
        self._pubsub: aioredis.client.PubSub | None = None
        self._node = self.node_id.encode()
        self._stopping = False
        self._resubscribe = False

    def channel(self, topic: str) -> str:
        return f"{self._prefix}:{topic}"

    def publish(self, topic: str, payload: bytes) -> None:
        if self._outbox_bytes + len(payload) > self._max_outbox_bytes:
            self.stats.dropped += 1  # Redis has been away a while: others catch up from the log
            self._lost.add(topic)
        else:
            self._outbox.append((topic, payload))
            self._outbox_bytes += len(payload)
        self._wake.set()

    @contextlib.asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[AsyncIterator[bytes]]:
        inbox = Inbox(self._inbox_bytes)
        entry = self._topics.setdefault(topic, _Topic())
        entry.inboxes.add(inbox)
        if len(entry.inboxes) == 1:
            await self._subscribe_now(topic)
        try:
            yield inbox.messages()
        finally:
            entry.inboxes.discard(inbox)
            if not entry.inboxes:
                del self._topics[topic]
                await self._unsubscribe_now(topic)

    async def _subscribe_now(self, topic: str) -> None:
        if self._pubsub is None:
            return  # the reader subscribes to every topic when it (re)connects
        try:
            async with asyncio.timeout(5):
                await self._pubsub.subscribe(self.channel(topic))
        except CONNECTION_ERRORS as exc:
            log.warning("redis subscribe failed (%s); reconnecting to resubscribe", exc)
            self._resubscribe = True

    async def _unsubscribe_now(self, topic: str) -> None:
        if self._pubsub is None:
            return
        with contextlib.suppress(*CONNECTION_ERRORS):
            async with asyncio.timeout(5):
                await self._pubsub.unsubscribe(self.channel(topic))

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        node, _, payload = data.partition(SEPARATOR)
        if node == self._node:
            return
        topic = channel.decode()[len(self._prefix) + 1 :]
        entry = self._topics.get(topic)
        if entry is None:
            return
        self.stats.received += 1
        for inbox in entry.inboxes:
            if not inbox.put(payload):
                self.stats.dropped += 1

    async def _connect(self) -> aioredis.client.PubSub:
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        async with asyncio.timeout(5):
            await pubsub.subscribe(f"{self._prefix}:__node__:{self.node_id}")
            for topic in list(self._topics):
                await pubsub.subscribe(self.channel(topic))
        return pubsub

    async def read_loop(self) -> None:
        """The one subscriber loop of this process: reconnects with backoff, never raises."""
        backoff = 0.1
        first = True
        while not self._stopping:
            try:
                self._pubsub = await self._connect()
                self.connected.set()
                if not first:
                    self.stats.reconnects += 1
                    log.warning("redis pub/sub reconnected; rooms catch up from the log")
                for entry in self._topics.values():  # subscribed while we were not listening
                    for inbox in entry.inboxes:
                        inbox.lose()
                first, backoff = False, 0.1
                await self._read(self._pubsub)
            except CONNECTION_ERRORS as exc:
                _reraise_cancel()
                self.connected.clear()
                log.warning("redis pub/sub lost (%s); retrying in %.1fs", exc, backoff)
            finally:
                if self._pubsub is not None:
                    # Bounded: this also runs while the task is being cancelled.
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(2):
                            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
                    self._pubsub = None
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _read(self, pubsub: aioredis.client.PubSub) -> None:
        while not self._stopping:
            if self._resubscribe:  # a subscription failed on a connection that still reads
                self._resubscribe = False
                raise ConnectionError("a subscription failed")
            message = await pubsub.get_message(timeout=1.0)
            if message is None:
                await pubsub.ping()  # notices a dead connection even when the node is idle
                continue
            if message["type"] == "message":
                self._dispatch(message["channel"], message["data"])

    def stop(self) -> None:
        """Make both loops end even if a cancellation is swallowed inside the client."""
        self._stopping = True

    async def write_loop(self) -> None:
        """Publish the outbox front to back; a failed batch stays in front and is retried
        (a message may then arrive twice: updates are idempotent, seqs tell repeats). Once
        the outbox is empty, topics that lost messages get their LOST notice."""
        pause = 0.1
        while not self._stopping:
            notices = not self._outbox
            if not notices:
                batch = list(itertools.islice(self._outbox, BATCH))
            elif self._lost:
                batch = [(topic, LOST) for topic in self._lost]
            else:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self._publish(batch)
            except CONNECTION_ERRORS as exc:
                _reraise_cancel()
                self.stats.retries += 1
                log.warning(
                    "redis publish failed (%s); %d messages wait (%d bytes), retrying in %.1fs",
                    exc,
                    len(self._outbox),
                    self._outbox_bytes,
                    pause,
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)
                continue
            pause = 0.1
            self.stats.published += len(batch)
            if notices:
                self._lost.difference_update(topic for topic, _ in batch)
            else:
                for _ in batch:
                    self._outbox_bytes -= len(self._outbox.popleft()[1])

    async def _publish(self, batch: list[tuple[str, bytes]]) -> None:
        async with asyncio.timeout(5), self._client.pipeline(transaction=False) as pipe:
            for topic, payload in batch:
                pipe.publish(self.channel(topic), self._node + SEPARATOR + payload)
            await pipe.execute()


def _reraise_cancel() -> None:
    # A timeout inside the Redis client can turn our cancellation into a TimeoutError
    # (asyncio.timeout racing a cancel); don't mistake a shutdown for a lost connection.
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@contextlib.asynccontextmanager
async def open_redis_pubsub(
    url: str, *, prefix: str = "ua", outbox_bytes: int = 32 * 1024 * 1024
) -> AsyncIterator[RedisPubSub]:
    client = aioredis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    pubsub = RedisPubSub(client, prefix=prefix, outbox_bytes=outbox_bytes)
    try:
        async with asyncio.TaskGroup() as group:
            reader = group.create_task(pubsub.read_loop(), name="redis-reader")
            writer = group.create_task(pubsub.write_loop(), name="redis-writer")
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5):
                        await pubsub.connected.wait()
                yield pubsub
            finally:
                pubsub.stop()
                reader.cancel()
                writer.cancel()
    finally:
        await client.aclose()
