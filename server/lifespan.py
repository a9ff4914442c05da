"""Open every resource on one AsyncExitStack at start-up; close them in reverse at shutdown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from starlette.applications import Starlette

from server.auth.passwords import PasswordHasher
from server.auth.ratelimit import MemoryRateLimiter
from server.auth.tokens import AccessTokens
from server.services import Services
from server.settings import Settings
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
async def open_services(settings: Settings) -> AsyncIterator[Services]:
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
        )
        yield services


def lifespan(settings: Settings):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app.state.services = services
            log.info("ready on %s:%s", settings.host, settings.port)
            yield
        log.info("stopped")

    return run
