"""Open the database: embedded or DATABASE_URL, migrated, as an asyncpg pool with pgvector."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from pgvector.asyncpg import register_vector

from storage.embedded import start_embedded
from storage.errors import DatabaseUnavailable
from storage.migrate import migrate, migration_lock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    url: str | None
    data_dir: Path
    min_size: int = 1
    max_size: int = 10
    command_timeout: float = 10.0


async def resolve_dsn(config: DatabaseConfig) -> str:
    if config.url:
        return config.url
    return await asyncio.to_thread(start_embedded, config.data_dir)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await register_vector(conn)


async def prepare_schema(dsn: str) -> None:
    """Create the extension on a plain connection (the pool's codecs need it), then migrate."""
    conn = await asyncpg.connect(dsn, timeout=30)
    try:
        # Under the migration lock like all start-up DDL: two nodes creating the extension at
        # once race on the catalog. migrate() takes the lock again; session locks nest.
        async with migration_lock(conn):
            await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            await migrate(conn)
    finally:
        await conn.close()


@asynccontextmanager
async def open_database(config: DatabaseConfig) -> AsyncIterator[asyncpg.Pool]:
    try:
        dsn = await resolve_dsn(config)
        await prepare_schema(dsn)
        pool = await asyncpg.create_pool(
            dsn,
            min_size=config.min_size,
            max_size=config.max_size,
            command_timeout=config.command_timeout,
            init=_init_connection,
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    try:
        yield pool
    finally:
        await close_pool(pool, config.command_timeout)


async def close_pool(pool: asyncpg.Pool, deadline_s: float) -> None:
    """Close gracefully; past the deadline, terminate what is still checked out."""
    try:
        async with asyncio.timeout(deadline_s):
            await pool.close()
    except TimeoutError:
        log.warning("database pool did not close in time; terminating its connections")
        pool.terminate()
