"""Password resets: single-use, expiring tokens stored as hashes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from storage.sql import Conn, Db


@dataclass(frozen=True, slots=True)
class Reset:
    id: uuid.UUID
    user_id: uuid.UUID
    email: str
    created_by: uuid.UUID | None
    expires_at: datetime
    used_at: datetime | None


_SELECT = (
    "SELECT r.id, r.user_id, u.email, r.created_by, r.expires_at, r.used_at"
    " FROM password_resets r JOIN users u ON u.id = r.user_id WHERE r.token_hash = $1"
)


async def create_reset(
    conn: Conn,
    *,
    user_id: uuid.UUID,
    token_hash: bytes,
    created_by: uuid.UUID | None,
    expires_at: datetime,
) -> None:
    """Store a new token; the user's older unused ones expire now, so only the newest works."""
    await conn.execute(
        "UPDATE password_resets SET expires_at = least(expires_at, now())"
        " WHERE user_id = $1 AND used_at IS NULL",
        user_id,
    )
    await conn.execute(
        "INSERT INTO password_resets (user_id, token_hash, created_by, expires_at)"
        " VALUES ($1, $2, $3, $4)",
        user_id,
        token_hash,
        created_by,
        expires_at,
    )


async def find_reset(db: Db, token_hash: bytes) -> Reset | None:
    row = await db.fetchrow(_SELECT, token_hash)
    return None if row is None else Reset(**dict(row))


async def lock_reset(conn: Conn, token_hash: bytes) -> Reset | None:
    row = await conn.fetchrow(_SELECT + " FOR UPDATE OF r", token_hash)
    return None if row is None else Reset(**dict(row))


async def redeem(conn: Conn, reset: Reset, password_hash: str) -> None:
    """Use the (locked) reset: mark it used and replace its user's password."""
    await conn.execute("UPDATE password_resets SET used_at = now() WHERE id = $1", reset.id)
    await conn.execute(
        "UPDATE users SET password_hash = $2 WHERE id = $1", reset.user_id, password_hash
    )
