"""Users: plain SQL in, frozen rows out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.errors import Conflict, NotFound


@dataclass(frozen=True, slots=True)
class User:
    id: uuid.UUID
    email: str
    display_name: str
    password_hash: str
    role: str
    created_at: datetime


_COLUMNS = "id, email, display_name, password_hash, role, created_at"


def _user(row: asyncpg.Record) -> User:
    return User(**dict(row))


async def create_user(
    db: asyncpg.Pool, email: str, display_name: str, password_hash: str, role: str = "user"
) -> User:
    try:
        row = await db.fetchrow(
            f"INSERT INTO users (email, display_name, password_hash, role) "
            f"VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}",
            email,
            display_name,
            password_hash,
            role,
        )
    except asyncpg.UniqueViolationError:
        raise Conflict("a user with this email exists") from None
    assert row is not None  # INSERT ... RETURNING always returns the row
    return _user(row)


async def find_by_email(db: asyncpg.Pool, email: str) -> User | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE lower(email) = lower($1)", email)
    return None if row is None else _user(row)


async def get_user(db: asyncpg.Pool, user_id: uuid.UUID) -> User:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE id = $1", user_id)
    if row is None:
        raise NotFound("user", user_id)
    return _user(row)


async def active_role(db: asyncpg.Pool, user_id: uuid.UUID) -> str | None:
    """The account role of an enabled account; None if it is disabled or does not exist."""
    role: str | None = await db.fetchval(
        "SELECT role FROM users WHERE id = $1 AND disabled_at IS NULL", user_id
    )
    return role


async def set_password_hash(db: asyncpg.Pool, user_id: uuid.UUID, password_hash: str) -> None:
    await db.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash)


async def set_role(db: asyncpg.Pool, user_id: uuid.UUID, role: str) -> None:
    await db.execute("UPDATE users SET role = $2 WHERE id = $1", user_id, role)
