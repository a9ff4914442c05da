"""Open every resource on one AsyncExitStack at start-up; close them in reverse at shutdown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from starlette.applications import Starlette

from collab.manager import RoomManager
from server.assistant import open_assistant
from server.auth.passwords import PasswordHasher
from server.auth.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from server.auth.tokens import AccessTokens
from server.metrics import Metrics
from server.realtime import open_rooms
from server.revalidate import revalidate_soon
from server.services import Services
from server.settings import Settings
from server.tasks.runtime import Runtime
from server.tasks.setup import open_tasks
from server.workflow.watcher import ContentWatcher, open_watcher
from storage.db import DatabaseConfig, open_database

log = logging.getLogger(__name__)


def database_config(settings: Settings) -> DatabaseConfig:
    return DatabaseConfig(
        url=settings.database_url,
        data_dir=settings.data_dir,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        command_timeout=settings.sql_timeout_s,
    )


@dataclass(frozen=True, slots=True)
class Limiters:
    login_email: RateLimiter
    login_address: RateLimiter
    register_address: RateLimiter


@asynccontextmanager
async def rate_limiters(settings: Settings) -> AsyncIterator[Limiters]:
    """Login per email and per address, registration per address; in Redis when configured."""
    limits = (
        (settings.login_rate_limit, settings.login_rate_window_s),
        (settings.login_ip_rate_limit, settings.login_rate_window_s),
        (settings.register_rate_limit, settings.register_rate_window_s),
    )
    if not settings.redis_url:
        yield Limiters(*(MemoryRateLimiter(limit, window) for limit, window in limits))
        return
    client = aioredis.Redis.from_url(settings.redis_url, socket_timeout=5)
    try:
        prefix = settings.redis_prefix
        yield Limiters(
            *(RedisRateLimiter(client, prefix, limit, window) for limit, window in limits)
        )
    finally:
        await client.aclose()


def watch_realtime(metrics: Metrics, rooms: RoomManager) -> None:
    metrics.watch("ua_rooms_loaded", "Rooms loaded on this node", lambda: rooms.room_count)
    metrics.watch(
        "ua_catch_ups",
        "Times a room re-read the log (a pub/sub loss, or anti-entropy)",
        lambda: rooms.catch_ups,
    )
    metrics.watch(
        "ua_journal_waiting_bytes",
        "Accepted edits not yet committed, in bytes",
        lambda: rooms.journal.unsettled_bytes,
    )
    stats = getattr(rooms.pubsub, "stats", None)
    if stats is not None:  # Redis
        for field in ("published", "received", "dropped", "reconnects", "retries"):
            metrics.watch(
                f"ua_pubsub_{field}", f"Redis pub/sub messages {field}", _reader(stats, field)
            )


def _reader(stats: object, field: str) -> Callable[[], float]:
    return lambda: float(getattr(stats, field))


@asynccontextmanager
async def open_services(settings: Settings, metrics: Metrics) -> AsyncIterator[Services]:
    async with AsyncExitStack() as stack:
        db = await stack.enter_async_context(open_database(database_config(settings)))
        limiters = await stack.enter_async_context(rate_limiters(settings))
        services = Services(
            settings=settings,
            db=db,
            hasher=PasswordHasher(
                time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib
            ),
            access_tokens=AccessTokens(
                settings.secret, settings.jwt_algorithm, settings.access_token_ttl_s
            ),
            login_limiter=limiters.login_email,
            login_ip_limiter=limiters.login_address,
            register_limiter=limiters.register_address,
            metrics=metrics,
        )
        watcher = ContentWatcher(
            db, debounce_s=settings.status_debounce_s, max_wait_s=settings.status_max_wait_s
        )
        rooms = await stack.enter_async_context(
            open_rooms(settings, db, on_commit=metrics.committed, seeder=watcher.on_load)
        )
        watcher.rooms = rooms
        assistant = await stack.enter_async_context(open_assistant(settings, db, rooms, metrics))
        watcher.after_change = assistant.reindex_quietly
        services.assistant = assistant
        # Entered after the rooms, so it exits first: pending statuses reach the meta rooms.
        await stack.enter_async_context(open_watcher(watcher))
        watch_realtime(metrics, rooms)
        rooms.on_control_lost = lambda: revalidate_soon(db, rooms)
        services.rooms = rooms
        # Entered last, so in-process exports finish before the rooms and the pool close.
        services.tasks = await stack.enter_async_context(
            open_tasks(Runtime(settings, db, rooms, metrics))
        )
        yield services


def lifespan(settings: Settings, metrics: Metrics) -> Callable[[Starlette], Any]:
    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[None]:
        async with open_services(settings, metrics) as services:
            app.state.services = services
            log.info("ready on %s:%s", settings.host, settings.port)
            yield
        log.info("stopped")

    return run
