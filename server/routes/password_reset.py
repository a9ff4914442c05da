"""POST /api/auth/password-reset: a new password with a one-time token from an admin."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

from server.api import Api, Call
from server.auth.passwords import MAX_LENGTH, password_problems
from server.auth.tokens import hash_token
from server.errors import ApiError, Invalid
from storage.repos import audit, resets, tokens

api = Api()


class ResetTokenRefused(ApiError):
    status, code = 400, "invalid_reset_token"


class PasswordResetIn(BaseModel):
    token: str = Field(min_length=1, max_length=200)
    new_password: str = Field(max_length=MAX_LENGTH)


def _usable(reset: resets.Reset | None) -> resets.Reset:
    if reset is None:
        raise ResetTokenRefused("this password reset token is not known")
    if reset.used_at is not None:
        raise ResetTokenRefused("this password reset token was already used")
    if reset.expires_at <= datetime.now(UTC):
        raise ResetTokenRefused("this password reset token has expired; ask for a new one")
    return reset


@api.op("POST", "/api/auth/password-reset", tag="auth", body=PasswordResetIn, auth=False)
async def reset_password(call: Call) -> None:
    """Set a new password with a reset token (single use); every session must sign in again."""
    body: PasswordResetIn = call.body
    services = call.services
    token_hash = hash_token(body.token)
    # Checked before hashing: an unknown token costs one lookup, never an Argon2 run.
    reset = _usable(await resets.find_reset(services.db, token_hash))
    problems = password_problems(body.new_password, reset.email)
    if problems:
        details = [{"field": "new_password", "message": p} for p in problems]
        raise Invalid("the password is too weak", details=details)
    password_hash = await services.hasher.hash(body.new_password)
    async with services.db.acquire() as conn, conn.transaction():
        # Locked and checked again: of two requests with one token, one wins.
        reset = _usable(await resets.lock_reset(conn, token_hash))
        await resets.redeem(conn, reset, password_hash)
        await tokens.revoke_user(conn, reset.user_id)
        await audit.record(
            conn,
            "account.password_reset",
            actor=reset.user_id,
            target_user=reset.user_id,
            issued_by=reset.created_by,
        )
