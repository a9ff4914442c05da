"""Invitations: single-use, expiring tokens stored as hashes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.sql import Conn, Db


@dataclass(frozen=True, slots=True)
class Invitation:
    id: uuid.UUID
    project_id: uuid.UUID
    email: str
    role: str
    expires_at: datetime
    accepted_at: datetime | None
    created_at: datetime


_COLUMNS = "id, project_id, email, role, expires_at, accepted_at, created_at"


async def create_invitation(
    db: Db,
    *,
    project_id: uuid.UUID,
    email: str,
    role: str,
    token_hash: bytes,
    invited_by: uuid.UUID,
    expires_at: datetime,
) -> Invitation:
    row = await db.fetchrow(
        "INSERT INTO invitations (project_id, email, role, token_hash, invited_by, expires_at) "
        f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
        project_id,
        email,
        role,
        token_hash,
        invited_by,
        expires_at,
    )
    assert row is not None
    return Invitation(**dict(row))


async def list_invitations(db: asyncpg.Pool, project_id: uuid.UUID) -> list[Invitation]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM invitations WHERE project_id = $1 ORDER BY created_at",
        project_id,
    )
    return [Invitation(**dict(r)) for r in rows]


async def lock_invitation(conn: Conn, token_hash: bytes) -> Invitation | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM invitations WHERE token_hash = $1 FOR UPDATE", token_hash
    )
    return None if row is None else Invitation(**dict(row))


async def mark_accepted(conn: Conn, invitation_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE invitations SET accepted_at = now(), accepted_by = $2 WHERE id = $1",
        invitation_id,
        user_id,
    )
