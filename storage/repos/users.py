"""Users: plain SQL in, frozen rows out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.errors import Conflict, NotFound
from storage.sql import Conn, Db


@dataclass(frozen=True, slots=True)
class User:
    id: uuid.UUID
    email: str
    display_name: str
    password_hash: str
    role: str
    created_at: datetime
    disabled_at: datetime | None = None


_COLUMNS = "id, email, display_name, password_hash, role, created_at, disabled_at"


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


async def active_role(db: Db, user_id: uuid.UUID) -> str | None:
    """The account role of an enabled account; None if it is disabled or does not exist."""
    role: str | None = await db.fetchval(
        "SELECT role FROM users WHERE id = $1 AND disabled_at IS NULL", user_id
    )
    return role


async def set_password_hash(db: Db, user_id: uuid.UUID, password_hash: str) -> None:
    await db.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash)


async def set_display_name(db: Db, user_id: uuid.UUID, display_name: str) -> User:
    row = await db.fetchrow(
        f"UPDATE users SET display_name = $2 WHERE id = $1 RETURNING {_COLUMNS}",
        user_id,
        display_name,
    )
    if row is None:
        raise NotFound("user", user_id)
    return _user(row)


async def lock_user(conn: Conn, user_id: uuid.UUID) -> User:
    """The user's row, locked until the transaction ends (NotFound if there is none)."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE id = $1 FOR UPDATE", user_id)
    if row is None:
        raise NotFound("user", user_id)
    return _user(row)


async def share_user(conn: Conn, user_id: uuid.UUID) -> User | None:
    """The user's row, kept from changes and deletion until the transaction ends."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE id = $1 FOR SHARE", user_id)
    return None if row is None else _user(row)


@dataclass(frozen=True, slots=True)
class OwnedProject:
    id: uuid.UUID
    name: str


async def sole_owned_projects(conn: Conn, user_id: uuid.UUID) -> list[OwnedProject]:
    """The projects whose only owner is this user. The owner rows of every project the user
    owns stay locked, as `projects.change_member` locks them, so no co-owner leaves meanwhile."""
    await conn.execute(
        "SELECT 1 FROM project_members WHERE role = 'owner' AND project_id IN"
        " (SELECT project_id FROM project_members WHERE user_id = $1 AND role = 'owner')"
        " ORDER BY project_id, user_id FOR UPDATE",
        user_id,
    )
    rows = await conn.fetch(
        "SELECT p.id, p.name FROM projects p JOIN project_members m ON m.project_id = p.id"
        " WHERE m.user_id = $1 AND m.role = 'owner' AND NOT EXISTS (SELECT 1 FROM"
        " project_members o WHERE o.project_id = p.id AND o.role = 'owner' AND o.user_id <> $1)"
        " ORDER BY p.name, p.id",
        user_id,
    )
    return [OwnedProject(id=r["id"], name=r["name"]) for r in rows]


async def delete_user(conn: Conn, user_id: uuid.UUID) -> None:
    """Delete the row; memberships, sessions and resets go with it (ON DELETE CASCADE)."""
    await conn.execute("DELETE FROM users WHERE id = $1", user_id)


async def invited(db: Db, token_hash: bytes, email: str) -> bool:
    """Whether this invitation waits, unaccepted and unexpired, for this email (the `invite`
    registration policy lets exactly its holder register)."""
    found: bool = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM invitations WHERE token_hash = $1"
        " AND lower(email) = lower($2) AND accepted_at IS NULL AND expires_at > now())",
        token_hash,
        email,
    )
    return found
