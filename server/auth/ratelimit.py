"""Fixed-window rate limits keyed by strings (email, client address)."""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Protocol

from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class RateLimiter(Protocol):
    async def hit(self, key: str) -> float:
        """Count one attempt; return 0 when allowed, else seconds until it would be."""
        ...


class MemoryRateLimiter:
    """In-process limiter: enough for one process; Redis shares it across nodes."""

    def __init__(self, limit: int, window_s: int) -> None:
        self._limit = limit
        self._window = window_s
        self._hits: dict[str, tuple[int, int]] = {}

    async def hit(self, key: str) -> float:
        window = math.floor(time.time() / self._window)
        start, count = self._hits.get(key, (window, 0))
        if start != window:
            count = 0
        count += 1
        self._hits[key] = (window, count)
        if len(self._hits) > 100_000:
            self._expire(window)
        if count > self._limit:
            return (window + 1) * self._window - time.time()
        return 0.0

    def _expire(self, window: int) -> None:
        for key in [k for k, (w, _) in self._hits.items() if w != window]:
            del self._hits[key]


class RedisRateLimiter:
    """The same fixed windows, counted in Redis so every node shares them. While Redis does
    not answer (a restart), each node counts alone rather than failing logins or letting
    every attempt through."""

    def __init__(self, client: Any, prefix: str, limit: int, window_s: int) -> None:
        self._client = client
        self._prefix = prefix
        self._limit = limit
        self._window = window_s
        self._fallback = MemoryRateLimiter(limit, window_s)

    async def hit(self, key: str) -> float:
        window = math.floor(time.time() / self._window)
        redis_key = f"{self._prefix}:rate:{key}:{window}"
        for attempt in range(2):  # a pooled connection may be stale after a restart
            try:
                async with self._client.pipeline(transaction=True) as pipe:
                    pipe.incr(redis_key)
                    pipe.expire(redis_key, self._window + 1)
                    count, _ = await pipe.execute()
                break
            except (RedisError, OSError) as exc:
                if attempt:
                    log.warning("rate limit counted on this node only: redis %s", exc)
                    return await self._fallback.hit(key)
        if int(count) > self._limit:
            return (window + 1) * self._window - time.time()
        return 0.0
