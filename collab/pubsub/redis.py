"""Redis pub/sub between nodes: one channel per topic, one reader loop per process.

Each message is `node_id | payload`; a node skips its own. Publishing is fire-and-forget
through one writer task that pipelines whatever is queued (one round trip per batch). When
the connection drops, both loops reconnect with backoff; after a reconnect the `on_resume`
callback runs so rooms can re-read what they may have missed from Postgres (CRDT updates
are idempotent, so re-applying is safe).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

SEPARATOR = b"|"


@dataclass
class RedisStats:
    published: int = 0
    received: int = 0
    dropped: int = 0
    reconnects: int = 0


@dataclass(eq=False)
class _Topic:
    queues: set[asyncio.Queue[bytes]] = field(default_factory=set)


class RedisPubSub:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "ua",
        node_id: str | None = None,
        queue_size: int = 10_000,
        on_resume: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.node_id = node_id or uuid.uuid4().hex[:12]
        self.stats = RedisStats()
        self.on_resume = on_resume
        self.connected = asyncio.Event()
        self._client = client
        self._prefix = prefix
        self._queue_size = queue_size
        self._topics: dict[str, _Topic] = {}
        self._outbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(queue_size)
        self._pubsub: aioredis.client.PubSub | None = None
        self._changed = asyncio.Event()
        self._node = self.node_id.encode()
        self._stopping = False

    def channel(self, topic: str) -> str:
        return f"{self._prefix}:{topic}"

    def publish(self, topic: str, payload: bytes) -> None:
        try:
            self._outbox.put_nowait((topic, payload))
        except asyncio.QueueFull:
            self.stats.dropped += 1  # Redis is down or slow: catch-up from the log covers it

    @contextlib.asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[AsyncIterator[bytes]]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(self._queue_size)
        entry = self._topics.setdefault(topic, _Topic())
        entry.queues.add(queue)
        if len(entry.queues) == 1:
            await self._subscribe_now(topic)

        async def messages() -> AsyncIterator[bytes]:
            while True:
                yield await queue.get()

        try:
            yield messages()
        finally:
            entry.queues.discard(queue)
            if not entry.queues:
                del self._topics[topic]
                await self._unsubscribe_now(topic)

    async def _subscribe_now(self, topic: str) -> None:
        if self._pubsub is None:
            return  # the reader subscribes to every topic when it (re)connects
        try:
            async with asyncio.timeout(5):
                await self._pubsub.subscribe(self.channel(topic))
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("redis subscribe failed (%s); the reader will resubscribe", exc)

    async def _unsubscribe_now(self, topic: str) -> None:
        if self._pubsub is None:
            return
        with contextlib.suppress(RedisError, OSError, TimeoutError):
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
        for queue in entry.queues:
            try:
                queue.put_nowait(payload)
            except asyncio.QueueFull:
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
                    log.warning("redis pub/sub reconnected; catching up from the log")
                    if self.on_resume is not None:
                        await self.on_resume()
                first, backoff = False, 0.1
                await self._read(self._pubsub)
            except (RedisError, OSError, TimeoutError) as exc:
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
        while not self._stopping:
            batch = [await self._outbox.get()]
            while not self._outbox.empty() and len(batch) < 512:
                batch.append(self._outbox.get_nowait())
            try:
                async with asyncio.timeout(5), self._client.pipeline(transaction=False) as pipe:
                    for topic, payload in batch:
                        pipe.publish(self.channel(topic), self._node + SEPARATOR + payload)
                    await pipe.execute()
                self.stats.published += len(batch)
            except (RedisError, OSError, TimeoutError) as exc:
                _reraise_cancel()
                self.stats.dropped += len(batch)
                log.warning(
                    "redis publish failed (%s); %d messages left to catch-up", exc, len(batch)
                )
                await asyncio.sleep(0.2)


def _reraise_cancel() -> None:
    # A timeout inside the Redis client can turn our cancellation into a TimeoutError
    # (asyncio.timeout racing a cancel); don't mistake a shutdown for a lost connection.
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@contextlib.asynccontextmanager
async def open_redis_pubsub(url: str, *, prefix: str = "ua") -> AsyncIterator[RedisPubSub]:
    client = aioredis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    pubsub = RedisPubSub(client, prefix=prefix)
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
