"""/api/auth: register, login, refresh, logout, me."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, EmailStr, Field

from server.api import Api, Call
from server.auth.passwords import MAX_LENGTH, password_problems
from server.auth.tokens import hash_token, new_opaque_token
from server.errors import Forbidden, Invalid, TooManyRequests, Unauthorized
from server.proxies import client_address
from server.services import Services
from storage.errors import Conflict as StorageConflict
from storage.repos import tokens, users
from storage.sql import Db

api = Api()

USER_AGENT_CHARS = 200  # what a session list shows; bounds what a client makes us store


class RegisterIn(BaseModel):
    email: EmailStr
    password: str = Field(max_length=MAX_LENGTH)
    display_name: str = Field(min_length=1, max_length=100)
    # With REGISTRATION=invite: the invitation's token (the email must be the invited one).
    invitation: str | None = Field(default=None, min_length=1, max_length=200)


class LoginIn(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=MAX_LENGTH)


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    role: str
    created_at: datetime


class TokensOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


def user_out(user: users.User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=user.role,
        created_at=user.created_at,
    )


@api.op(
    "POST",
    "/api/auth/register",
    tag="auth",
    body=RegisterIn,
    response=UserOut,
    status=201,
    auth=False,
)
async def register(call: Call) -> UserOut:
    """Create an account; an email that has one answers alike, so nobody can probe for it."""
    body: RegisterIn = call.body
    address = client_address(call.request)
    refuse_if(await call.services.register_limiter.hit(f"register:ip:{address}"), "registrations")
    await _check_registration_policy(call.services, body.email, body.invitation)
    problems = password_problems(body.password, body.email)
    if problems:
        details = [{"field": "password", "message": p} for p in problems]
        raise Invalid("the password is too weak", details=details)
    # Hashed either way, so both answers take the same time.
    password_hash = await call.services.hasher.hash(body.password)
    try:
        user = await users.create_user(
            call.services.db, body.email, body.display_name, password_hash
        )
    except StorageConflict:
        # Nothing is created and the real account stays hidden: the same 201 with a fresh id
        # that no account has (signing in with it fails like any wrong password).
        return UserOut(
            id=uuid.uuid4(),
            email=body.email,
            display_name=body.display_name,
            role="user",
            created_at=datetime.now(UTC),
        )
    return user_out(user)


async def _check_registration_policy(
    services: Services, email: str, invitation: str | None
) -> None:
    """`invite`: the invitation's token must come with its email. Knowing that an address
    was invited is not enough, and without the token the answer says nothing about it."""
    policy = services.settings.registration
    if policy == "closed":
        raise Forbidden("registration is closed: an administrator creates accounts")
    if policy == "invite" and (
        invitation is None or not await users.invited(services.db, hash_token(invitation), email)
    ):
        raise Forbidden(
            "registration is by invitation only: register with the invitation's token"
            " and the email it was sent to"
        )


def user_agent_of(call: Call) -> str:
    return call.request.headers.get("user-agent", "")[:USER_AGENT_CHARS]


async def issue_tokens(
    services: Services,
    user: users.User,
    family: uuid.UUID | None = None,
    *,
    user_agent: str = "",
    db: Db | None = None,
) -> TokensOut:
    """A new access token and a refresh token in `family` (None: a new session), written
    through `db` when given, e.g. in the caller's transaction."""
    refresh, refresh_hash = new_opaque_token()
    expires = datetime.now(UTC) + timedelta(seconds=services.settings.refresh_token_ttl_s)
    await tokens.insert_refresh_token(
        db or services.db, user.id, family or uuid.uuid4(), refresh_hash, expires, user_agent
    )
    return TokensOut(
        access_token=services.access_tokens.issue(user.id, user.role),
        refresh_token=refresh,
        expires_in=services.access_tokens.ttl_s,
    )


def refuse_if(wait: float, what: str) -> None:
    if wait > 0:
        retry = str(max(1, round(wait)))
        raise TooManyRequests(f"too many {what}", headers={"Retry-After": retry})


async def _check_login_rate(call: Call, email: str) -> None:
    services = call.services
    address = client_address(call.request)
    wait = max(
        await services.login_limiter.hit(f"login:email:{email.lower()}"),
        await services.login_ip_limiter.hit(f"login:ip:{address}"),
    )
    refuse_if(wait, "login attempts")


@api.op("POST", "/api/auth/login", tag="auth", body=LoginIn, response=TokensOut, auth=False)
async def login(call: Call) -> TokensOut:
    """Exchange email and password for an access and a refresh token."""
    body: LoginIn = call.body
    await _check_login_rate(call, body.email)
    services = call.services
    user = await users.find_by_email(services.db, body.email)
    verdict = await services.hasher.verify(body.password, user.password_hash if user else None)
    if user is None or not verdict.ok:
        raise Unauthorized("wrong email or password")
    # Said only to whoever knows the password, so it reveals nothing to a prober.
    if user.disabled_at is not None:
        raise Unauthorized("this account is disabled: ask an administrator")
    if verdict.new_hash:
        await users.set_password_hash(services.db, user.id, verdict.new_hash)
    return await issue_tokens(services, user, user_agent=user_agent_of(call))


@api.op("POST", "/api/auth/refresh", tag="auth", body=RefreshIn, response=TokensOut, auth=False)
async def refresh(call: Call) -> TokensOut:
    """Rotate a refresh token; a reused one revokes its whole family."""
    body: RefreshIn = call.body
    services = call.services
    token_hash = hash_token(body.refresh_token)
    async with services.db.acquire() as conn, conn.transaction():
        # The account first, then the token: the order of every path that changes both (a
        # password change, a reset, a disable, a delete), so none can slip a new token past
        # its revoke-all, and none deadlocks with a refresh.
        owner = await tokens.user_of(conn, token_hash)
        user = None if owner is None else await users.share_user(conn, owner)
        token = await tokens.claim_refresh_token(conn, token_hash)
        if token is not None and token.used_at is not None:
            await tokens.revoke_family(conn, token.family_id)  # committed: no raise in here
        problem = _refresh_problem(token)
        if token is not None and problem is None:
            if user is None or user.disabled_at is not None:
                # Raised in here, so the token stays unused for when the account is enabled.
                raise Unauthorized("this account is disabled or no longer exists")
            return await issue_tokens(
                services, user, token.family_id, user_agent=token.user_agent, db=conn
            )
    raise Unauthorized(problem or "the refresh token is invalid")


def _refresh_problem(token: tokens.RefreshToken | None) -> str | None:
    if token is None or token.used_at is not None or token.revoked_at is not None:
        return "the refresh token is invalid"
    if token.expires_at <= datetime.now(UTC):
        return "the refresh token has expired"
    return None


@api.op("POST", "/api/auth/logout", tag="auth", body=RefreshIn, auth=False)
async def logout(call: Call) -> None:
    """Revoke a refresh token and every token rotated from it."""
    body: RefreshIn = call.body
    family = await tokens.family_of(call.services.db, hash_token(body.refresh_token))
    if family is not None:
        await tokens.revoke_family(call.services.db, family)


@api.op("GET", "/api/auth/me", tag="auth", response=UserOut)
async def me(call: Call) -> UserOut:
    """The signed-in user."""
    return user_out(await users.get_user(call.services.db, call.user_id))
