"""Password reset tokens: issued by an admin (API) or an operator (`ua admin reset-password`),
redeemed once at POST /api/auth/password-reset."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from server.auth.tokens import new_opaque_token
from storage.repos import audit, resets, users

RESET_TTL = timedelta(hours=1)  # long enough to pass on, short enough to leak harmlessly


@dataclass(frozen=True, slots=True)
class IssuedReset:
    token: str  # shown once: only its hash is stored
    expires_at: datetime


async def issue_reset(
    db: asyncpg.Pool, user_id: uuid.UUID, *, actor: uuid.UUID | None
) -> IssuedReset:
    """A new single-use token for `user_id` (older unused ones stop working); audited.
    Raises storage NotFound for an unknown user."""
    token, token_hash = new_opaque_token()
    expires_at = datetime.now(UTC) + RESET_TTL
    async with db.acquire() as conn, conn.transaction():
        user = await users.lock_user(conn, user_id)
        await resets.create_reset(
            conn, user_id=user_id, token_hash=token_hash, created_by=actor, expires_at=expires_at
        )
        await audit.record(
            conn,
            "account.password_reset_issued",
            actor=actor,
            target_user=user_id,
            email=user.email,
            expires_at=expires_at,
        )
    return IssuedReset(token, expires_at)
