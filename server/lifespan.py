"""Open every resource on one AsyncExitStack at start-up; close them in reverse at shutdown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from starlette.applications import Starlette

from server.auth.passwords import PasswordHasher
from server.auth.ratelimit import MemoryRateLimiter
from server.auth.tokens import AccessTokens
from server.metrics import Metrics
from server.realtime import open_rooms
from server.services import Services
from server.settings import Settings
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


@asynccontextmanager
async def open_services(settings: Settings, metrics: Metrics) -> AsyncIterator[Services]:
    async with AsyncExitStack() as stack:
        db = await stack.enter_async_context(open_database(database_config(settings)))
        services = Services(
            settings=settings,
            db=db,
            hasher=PasswordHasher(
                time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib
            ),
            access_tokens=AccessTokens(
                settings.secret, settings.jwt_algorithm, settings.access_token_ttl_s
            ),
            login_limiter=MemoryRateLimiter(
                settings.login_rate_limit, settings.login_rate_window_s
            ),
            login_ip_limiter=MemoryRateLimiter(
                settings.login_ip_rate_limit, settings.login_rate_window_s
            ),
            metrics=metrics,
        )
        watcher = ContentWatcher(
            db, debounce_s=settings.status_debounce_s, max_wait_s=settings.status_max_wait_s
        )
        rooms = await stack.enter_async_context(
            open_rooms(
                settings, db, on_commit=metrics.persistence_lag.observe, seeder=watcher.on_load
            )
        )
        watcher.rooms = rooms
        # Entered after the rooms, so it exits first: pending statuses reach the meta rooms.
        await stack.enter_async_context(open_watcher(watcher))
        metrics.watch_rooms(lambda: rooms.room_count)
        services.rooms = rooms
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
