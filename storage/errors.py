"""Storage errors.

StorageError
├── NotFound          no such row
├── Conflict          a unique constraint refused the write
└── DatabaseUnavailable   the database could not be reached or started

`UNREACHABLE` lists what asyncpg raises when the server is away (stopped, restarting,
refusing connections) rather than when a query is wrong: callers answer "try again later".
"""

from __future__ import annotations

from asyncpg import exceptions as pg

UNREACHABLE: tuple[type[Exception], ...] = (
    ConnectionError,  # refused or reset: nothing listens, or it went away mid-query
    pg.PostgresConnectionError,  # includes "the connection was closed" mid-query
    pg.CannotConnectNowError,  # starting up or shutting down
    pg.AdminShutdownError,
    pg.CrashShutdownError,
)


class StorageError(Exception):
    pass


class NotFound(StorageError):
    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key} not found")
        self.kind = kind


class Conflict(StorageError):
    pass


class DatabaseUnavailable(StorageError):
    pass
