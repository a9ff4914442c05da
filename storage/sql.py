"""Type names for what a repository function runs its SQL on."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy  # one connection, e.g. in a transaction
Db: TypeAlias = asyncpg.Pool | Conn  # anything that runs a query
