"""/api/admin: accounts and projects across the server (account role admin only)."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from collab.types import PHASE_COUNT, DocumentName
from server import access
from server.accounts import delete_account
from server.api import Api, Call
from server.auth.resets import issue_reset
from server.errors import Conflict, Invalid
from storage.errors import Conflict as StorageConflict
from storage.repos import admin

api = Api()

AccountRole = Literal["admin", "user"]


class UsersQuery(BaseModel):
    q: str = Field(default="", max_length=200, description="part of an email or display name")
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str = Field(default="", max_length=400, description="next_cursor of the last page")


class PageQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str = Field(default="", max_length=400, description="next_cursor of the last page")


class DeleteQuery(BaseModel):
    transfer_to: uuid.UUID | None = Field(
        default=None, description="the account that becomes owner of projects it alone owns"
    )


class AdminUserOut(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    role: AccountRole
    disabled: bool
    disabled_at: datetime | None
    created_at: datetime


class MembershipOut(BaseModel):
    project_id: uuid.UUID
    name: str
    role: str
    added_at: datetime


class AdminUserDetail(AdminUserOut):
    projects: list[MembershipOut]


class UsersPage(BaseModel):
    items: list[AdminUserOut]
    next_cursor: str | None  # None on the last page


class OwnerOut(BaseModel):
    id: uuid.UUID
    email: str


class AdminProjectOut(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    updated_at: datetime
    owners: list[OwnerOut]
    members: int
    document_bytes: int = Field(description="its documents' update logs and snapshots")
    version_bytes: int = Field(description="the named versions of its phases")


class ProjectsPage(BaseModel):
    items: list[AdminProjectOut]
    next_cursor: str | None


class RoleIn(BaseModel):
    role: AccountRole


class ResetOut(BaseModel):
    token: str
    expires_at: datetime


def require_admin(call: Call) -> uuid.UUID:
    return access.require_admin(call.principal)


def _encode_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    """The text of a cursor this module made; anything else is a 422, never a query."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError):  # also non-ASCII input and bad UTF-8
        raise Invalid("the cursor is invalid") from None
    if "\x00" in text:  # Postgres stores no NUL
        raise Invalid("the cursor is invalid")
    return text


def _decode_project_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    at, _, ident = _decode_cursor(cursor).partition(" ")
    try:
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError("no time zone")
        # In UTC here: year 1 at +01:00 would overflow later, inside the database driver.
        return when.astimezone(UTC), uuid.UUID(ident)
    except (ValueError, OverflowError):
        raise Invalid("the cursor is invalid") from None


def _user_out(account: admin.Account) -> AdminUserOut:
    return AdminUserOut(
        id=account.id,
        email=account.email,
        display_name=account.display_name,
        role=account.role,  # type: ignore[arg-type]
        disabled=account.disabled_at is not None,
        disabled_at=account.disabled_at,
        created_at=account.created_at,
    )


@api.op("GET", "/api/admin/users", tag="admin", response=UsersPage, query=UsersQuery)
async def list_users(call: Call) -> UsersPage:
    """Every account, by email; ?q= matches part of an email or display name."""
    require_admin(call)
    params: UsersQuery = call.query
    after = _decode_cursor(params.cursor) if params.cursor else None
    page = await admin.list_accounts(
        call.services.db, query=params.q, after=after, limit=params.limit
    )
    return UsersPage(
        items=[_user_out(a) for a in page.accounts],
        next_cursor=None if page.next_after is None else _encode_cursor(page.next_after),
    )


@api.op("GET", "/api/admin/users/{user_id:uuid}", tag="admin", response=AdminUserDetail)
async def get_user(call: Call) -> AdminUserDetail:
    """One account and the projects it is a member of, with its role in each."""
    require_admin(call)
    user_id: uuid.UUID = call.path("user_id")
    account = await admin.get_account(call.services.db, user_id)
    memberships = await admin.memberships(call.services.db, user_id)
    return AdminUserDetail(
        **_user_out(account).model_dump(),
        projects=[MembershipOut.model_validate(m, from_attributes=True) for m in memberships],
    )


async def _set_disabled(call: Call, disabled: bool) -> AdminUserOut:
    actor = require_admin(call)
    user_id: uuid.UUID = call.path("user_id")
    if disabled and user_id == actor:
        raise Conflict("you cannot disable your own account")
    try:
        await admin.set_disabled(call.services.db, user_id, disabled, actor=actor)
    except StorageConflict as exc:
        raise Conflict(str(exc)) from None
    if disabled and call.services.rooms is not None:
        # Even when it already was disabled: a retry closes what an earlier call missed.
        call.services.rooms.account_closed(user_id)
    return _user_out(await admin.get_account(call.services.db, user_id))


@api.op("POST", "/api/admin/users/{user_id:uuid}/disable", tag="admin", response=AdminUserOut)
async def disable_user(call: Call) -> AdminUserOut:
    """Disable an account: no sign-in, sessions revoked, its live connections closed."""
    return await _set_disabled(call, True)


@api.op("POST", "/api/admin/users/{user_id:uuid}/enable", tag="admin", response=AdminUserOut)
async def enable_user(call: Call) -> AdminUserOut:
    """Enable a disabled account again (it signs in anew: its sessions stay revoked)."""
    return await _set_disabled(call, False)


@api.op("DELETE", "/api/admin/users/{user_id:uuid}", tag="admin", query=DeleteQuery)
async def delete_user(call: Call) -> None:
    """Delete an account as its owner could; ?transfer_to= takes the projects it alone owns."""
    actor = require_admin(call)
    user_id: uuid.UUID = call.path("user_id")
    if user_id == actor:
        raise Conflict("delete your own account at DELETE /api/account")
    params: DeleteQuery = call.query
    await delete_account(call.services, user_id, actor=actor, transfer_to=params.transfer_to)


@api.op(
    "PUT", "/api/admin/users/{user_id:uuid}/role", tag="admin", body=RoleIn, response=AdminUserOut
)
async def set_role(call: Call) -> AdminUserOut:
    """Make an account an admin or a user; the last enabled admin stays one."""
    actor = require_admin(call)
    user_id: uuid.UUID = call.path("user_id")
    body: RoleIn = call.body
    try:
        await admin.set_role(call.services.db, user_id, body.role, actor=actor)
    except StorageConflict as exc:
        raise Conflict(str(exc)) from None
    return _user_out(await admin.get_account(call.services.db, user_id))


@api.op(
    "POST",
    "/api/admin/users/{user_id:uuid}/password-reset",
    tag="admin",
    response=ResetOut,
    status=201,
)
async def issue_password_reset(call: Call) -> ResetOut:
    """A single-use token to pass to the user, for POST /api/auth/password-reset."""
    actor = require_admin(call)
    issued = await issue_reset(call.services.db, call.path("user_id"), actor=actor)
    return ResetOut(token=issued.token, expires_at=issued.expires_at)


def _documents(project_ids: list[uuid.UUID]) -> dict[str, uuid.UUID]:
    phases = (*range(1, PHASE_COUNT + 1), None)
    return {str(DocumentName(p, n)): p for p in project_ids for n in phases}


@api.op("GET", "/api/admin/projects", tag="admin", response=ProjectsPage, query=PageQuery)
async def list_projects(call: Call) -> ProjectsPage:
    """Every project, oldest first, with its owners, member count and stored size."""
    require_admin(call)
    params: PageQuery = call.query
    after = _decode_project_cursor(params.cursor) if params.cursor else None
    db = call.services.db
    page = await admin.list_projects(db, after=after, limit=params.limit)
    sizes = await admin.document_bytes(db, _documents([p.id for p in page.projects]))
    items = [
        AdminProjectOut(
            id=p.id,
            name=p.name,
            created_at=p.created_at,
            updated_at=p.updated_at,
            owners=[OwnerOut(id=o.id, email=o.email) for o in p.owners],
            members=p.members,
            document_bytes=sizes.get(p.id, 0),
            version_bytes=p.version_bytes,
        )
        for p in page.projects
    ]
    cursor = None
    if page.next_after is not None:
        at, ident = page.next_after
        cursor = _encode_cursor(f"{at.isoformat()} {ident}")
    return ProjectsPage(items=items, next_cursor=cursor)
