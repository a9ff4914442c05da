"""Fixed-window rate limits keyed by strings (email, client address)."""

from __future__ import annotations

import math
import time
from typing import Protocol


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
