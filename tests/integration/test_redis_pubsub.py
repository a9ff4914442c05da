"""The Redis transport against a real redis-server: what it cannot deliver, it says it lost."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from collab.pubsub.inbox import LOST
from collab.pubsub.redis import open_redis_pubsub
from tests.support import redis_server


async def collect(messages: AsyncIterator[bytes], into: list[bytes]) -> None:
    async for payload in messages:
        into.append(payload)


def numbers(received: list[bytes]) -> list[int]:
    return [int(payload) for payload in received if payload != LOST]


def check_order(received: list[bytes]) -> None:
    """In order, and wherever one is missing, a LOST came before the next."""
    expected, lost = 1, False
    for payload in received:
        if payload == LOST:
            lost = True
            continue
        number = int(payload)
        assert number >= expected, received
        assert number == expected or lost, f"{expected} missing without notice: {received}"
        expected, lost = number + 1, False


async def until(condition: object, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)


async def test_publishes_during_an_outage_are_retried_in_order() -> None:
    with redis_server() as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        prefix = f"t{uuid.uuid4().hex[:8]}"
        async with (
            open_redis_pubsub(url, prefix=prefix) as a,
            open_redis_pubsub(url, prefix=prefix) as b,
            b.subscribe("doc") as messages,
        ):
            received: list[bytes] = []
            reader = asyncio.create_task(collect(messages, received))
            for n in range(1, 6):
                a.publish("doc", str(n).encode())
            await until(lambda: len(received) == 5)
            await aioredis.Redis.from_url(url).shutdown(nosave=True)  # type: ignore[no-untyped-call]
            for n in range(6, 11):
                a.publish("doc", str(n).encode())
            await asyncio.sleep(1)
            with redis_server(port):  # back on the same port
                await until(lambda: a.stats.published == 10 and b.stats.reconnects == 1)
                await until(lambda: LOST in received)
                await asyncio.sleep(0.5)
            reader.cancel()
            check_order(received)
            assert a.stats.retries >= 1
            assert numbers(received)[:5] == [1, 2, 3, 4, 5]


async def test_an_outbox_over_its_bound_drops_and_tells_the_others() -> None:
    with redis_server() as url:
        prefix = f"t{uuid.uuid4().hex[:8]}"
        admin = aioredis.Redis.from_url(url)
        async with (
            open_redis_pubsub(url, prefix=prefix, outbox_bytes=2048) as a,
            open_redis_pubsub(url, prefix=prefix) as b,
            b.subscribe("doc") as messages,
        ):
            received: list[bytes] = []
            reader = asyncio.create_task(collect(messages, received))
            a.publish("doc", b"1")
            await until(lambda: received == [b"1"])
            # Writes (PUBLISH among them) wait while b's subscription stays connected: a's
            # batch times out, is retried, and what comes meanwhile overflows its outbox.
            await admin.execute_command("CLIENT", "PAUSE", "6000", "WRITE")
            for n in range(2, 202):
                a.publish("doc", str(n).encode().ljust(100))
            await until(lambda: a.stats.dropped > 0)
            await until(lambda: LOST in received, timeout=30)
            await asyncio.sleep(0.3)
            reader.cancel()
            check_order([p.strip() if p != LOST else p for p in received])
            assert b.stats.reconnects == 0  # the notice came from a, not from a reconnect
            assert a.stats.retries >= 1
        await admin.aclose()
