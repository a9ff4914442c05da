"""/api/account: the signed-in user's own profile, password, sessions and deletion."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from server.accounts import delete_account
from server.api import Api, Call
from server.auth.passwords import MAX_LENGTH, password_problems
from server.auth.tokens import hash_token
from server.errors import Forbidden, Invalid, NotFound
from server.routes.auth import (
    TokensOut,
    UserOut,
    issue_tokens,
    refuse_if,
    user_agent_of,
    user_out,
)
from storage.repos import audit, tokens, users

api = Api()


class ProfileIn(BaseModel):
    display_name: str = Field(min_length=1, max_length=100)


class PasswordIn(BaseModel):
    current_password: str = Field(max_length=MAX_LENGTH)
    new_password: str = Field(max_length=MAX_LENGTH)
    refresh_token: str | None = Field(
        default=None,
        max_length=200,
        description="this session's: the new pair continues it instead of starting another",
    )


class DeleteIn(BaseModel):
    password: str = Field(max_length=MAX_LENGTH)
    transfer_to: uuid.UUID | None = Field(
        default=None, description="who becomes owner of the projects you alone own"
    )


class SessionOut(BaseModel):
    id: uuid.UUID = Field(description="the refresh-token family")
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str


@api.op("PATCH", "/api/account", tag="account", body=ProfileIn, response=UserOut)
async def update_account(call: Call) -> UserOut:
    """Change your display name."""
    body: ProfileIn = call.body
    return user_out(await users.set_display_name(call.services.db, call.user_id, body.display_name))


async def _check_password(call: Call, password: str) -> users.User:
    """The caller's account, if `password` is its password; attempts are rate-limited."""
    services = call.services
    # Counted per account, success or not: a stolen access token must not become a way to
    # guess the password at Argon2's pace.
    refuse_if(await services.login_limiter.hit(f"password:user:{call.user_id}"), "attempts")
    user = await users.get_user(services.db, call.user_id)
    if not (await services.hasher.verify(password, user.password_hash)).ok:
        raise Forbidden("the password is wrong")
    return user


@api.op("POST", "/api/account/password", tag="account", body=PasswordIn, response=TokensOut)
async def change_password(call: Call) -> TokensOut:
    """Change your password: every session is signed out; you get a fresh pair of tokens."""
    body: PasswordIn = call.body
    user = await _check_password(call, body.current_password)
    problems = password_problems(body.new_password, user.email)
    if problems:
        details = [{"field": "new_password", "message": p} for p in problems]
        raise Invalid("the new password is too weak", details=details)
    new_hash = await call.services.hasher.hash(body.new_password)
    async with call.services.db.acquire() as conn, conn.transaction():
        await users.set_password_hash(conn, user.id, new_hash)
        family = None
        if body.refresh_token:
            # Revoked below with the rest, not marked used: presented again it is refused
            # without counting as reuse, which would revoke the new pair's family too.
            family = await tokens.live_family(conn, hash_token(body.refresh_token), user.id)
        await tokens.revoke_user(conn, user.id)
        pair = await issue_tokens(
            call.services, user, family, user_agent=user_agent_of(call), db=conn
        )
        await audit.record(conn, "account.password_changed", actor=user.id, target_user=user.id)
    return pair


@api.op("DELETE", "/api/account", tag="account", body=DeleteIn)
async def delete_own_account(call: Call) -> None:
    """Delete your account; projects you alone own need `transfer_to` (else 409 lists them)."""
    body: DeleteIn = call.body
    await _check_password(call, body.password)
    await delete_account(
        call.services, call.user_id, actor=call.user_id, transfer_to=body.transfer_to
    )


@api.op("GET", "/api/account/sessions", tag="account", response=list[SessionOut])
async def list_sessions(call: Call) -> list[SessionOut]:
    """Your signed-in sessions (refresh-token families still usable), most recent first."""
    sessions = await tokens.list_sessions(call.services.db, call.user_id)
    return [
        SessionOut(
            id=s.family_id,
            created_at=s.created_at,
            last_used_at=s.last_used_at,
            expires_at=s.expires_at,
            user_agent=s.user_agent,
        )
        for s in sessions
    ]


@api.op("DELETE", "/api/account/sessions/{family_id:uuid}", tag="account")
async def revoke_session(call: Call) -> None:
    """Sign a session out: its refresh token stops working (its access token expires)."""
    if not await tokens.revoke_session(call.services.db, call.user_id, call.path("family_id")):
        raise NotFound("no such session")
