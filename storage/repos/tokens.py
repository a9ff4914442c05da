"""Refresh tokens, stored as hashes, grouped in rotation families."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.sql import Conn, Db


@dataclass(frozen=True, slots=True)
class RefreshToken:
    id: uuid.UUID
    user_id: uuid.UUID
    family_id: uuid.UUID
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


async def insert_refresh_token(
    db: Db,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    token_hash: bytes,
    expires_at: datetime,
) -> None:
    await db.execute(
        "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) "
        "VALUES ($1, $2, $3, $4)",
        user_id,
        family_id,
        token_hash,
        expires_at,
    )


async def claim_refresh_token(conn: Conn, token_hash: bytes) -> RefreshToken | None:
    """Lock the token's row and mark it used; return it as it was before (None if unknown)."""
    row = await conn.fetchrow(
        "SELECT id, user_id, family_id, expires_at, used_at, revoked_at FROM refresh_tokens "
        "WHERE token_hash = $1 FOR UPDATE",
        token_hash,
    )
    if row is None:
        return None
    await conn.execute(
        "UPDATE refresh_tokens SET used_at = coalesce(used_at, now()) WHERE id = $1", row["id"]
    )
    return RefreshToken(**dict(row))


async def revoke_family(db: Db, family_id: uuid.UUID) -> None:
    await db.execute(
        "UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE family_id = $1",
        family_id,
    )


async def family_of(db: asyncpg.Pool, token_hash: bytes) -> uuid.UUID | None:
    value: uuid.UUID | None = await db.fetchval(
        "SELECT family_id FROM refresh_tokens WHERE token_hash = $1", token_hash
    )
    return value
