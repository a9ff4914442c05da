"""Refresh tokens, stored as hashes, grouped in rotation families."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from storage.sql import Conn, Db


@dataclass(frozen=True, slots=True)
class RefreshToken:
    id: uuid.UUID
    user_id: uuid.UUID
    family_id: uuid.UUID
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None
    user_agent: str


async def insert_refresh_token(
    db: Db,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    token_hash: bytes,
    expires_at: datetime,
    user_agent: str = "",
) -> None:
    await db.execute(
        "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, user_agent) "
        "VALUES ($1, $2, $3, $4, $5)",
        user_id,
        family_id,
        token_hash,
        expires_at,
        user_agent,
    )


async def user_of(db: Db, token_hash: bytes) -> uuid.UUID | None:
    """Whose token this is, without locking it (to lock the account first)."""
    value: uuid.UUID | None = await db.fetchval(
        "SELECT user_id FROM refresh_tokens WHERE token_hash = $1", token_hash
    )
    return value


async def claim_refresh_token(conn: Conn, token_hash: bytes) -> RefreshToken | None:
    """Lock the token's row and mark it used; return it as it was before (None if unknown)."""
    row = await conn.fetchrow(
        "SELECT id, user_id, family_id, expires_at, used_at, revoked_at, user_agent"
        " FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
        token_hash,
    )
    if row is None:
        return None
    await conn.execute(
        # A revoked token stays unused: presented again it is refused, not taken for reuse
        # (which would revoke the pair a password change continued its session with).
        "UPDATE refresh_tokens SET used_at = coalesce(used_at, now())"
        " WHERE id = $1 AND revoked_at IS NULL",
        row["id"],
    )
    return RefreshToken(**dict(row))


async def live_family(db: Db, token_hash: bytes, user_id: uuid.UUID) -> uuid.UUID | None:
    """The family of the user's token if it could still refresh, else None."""
    family: uuid.UUID | None = await db.fetchval(
        "SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND user_id = $2"
        " AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()",
        token_hash,
        user_id,
    )
    return family


async def revoke_family(db: Db, family_id: uuid.UUID) -> None:
    await db.execute(
        "UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE family_id = $1",
        family_id,
    )


async def family_of(db: Db, token_hash: bytes) -> uuid.UUID | None:
    value: uuid.UUID | None = await db.fetchval(
        "SELECT family_id FROM refresh_tokens WHERE token_hash = $1", token_hash
    )
    return value


async def revoke_user(db: Db, user_id: uuid.UUID) -> None:
    """Revoke every refresh-token family of the user: each session must sign in again."""
    await db.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        user_id,
    )


async def revoke_session(db: Db, user_id: uuid.UUID, family_id: uuid.UUID) -> bool:
    """Revoke one of the user's live families; False if it has none by that id."""
    status = await db.execute(
        "UPDATE refresh_tokens SET revoked_at = now()"
        " WHERE user_id = $1 AND family_id = $2 AND revoked_at IS NULL",
        user_id,
        family_id,
    )
    return status != "UPDATE 0"


@dataclass(frozen=True, slots=True)
class Session:
    """A refresh-token family: created with its first token, last used when its newest was
    issued (each refresh issues one)."""

    family_id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str


async def list_sessions(db: Db, user_id: uuid.UUID) -> list[Session]:
    """The user's families that still hold a token one can refresh with, newest use first."""
    rows = await db.fetch(
        "SELECT family_id, min(created_at) AS created_at, max(created_at) AS last_used_at,"
        " max(expires_at) AS expires_at,"
        " (array_agg(user_agent ORDER BY created_at DESC))[1] AS user_agent"
        " FROM refresh_tokens WHERE user_id = $1 GROUP BY family_id"
        " HAVING bool_or(revoked_at IS NULL AND used_at IS NULL AND expires_at > now())"
        " ORDER BY last_used_at DESC, family_id",
        user_id,
    )
    return [Session(**dict(row)) for row in rows]
