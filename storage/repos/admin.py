"""Administration queries: every account and project, disabling accounts, account roles.

Pages are keyset pages: a caller passes back the sort key of the last row it got, so a page
stays correct while rows are added or removed before it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from storage.errors import Conflict, NotFound
from storage.repos import audit, tokens, users
from storage.sql import Conn, Db


@dataclass(frozen=True, slots=True)
class Account:
    id: uuid.UUID
    email: str
    display_name: str
    role: str
    disabled_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Membership:
    project_id: uuid.UUID
    name: str
    role: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class Owner:
    id: uuid.UUID
    email: str


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    id: uuid.UUID
    name: str
    created_at: datetime
    updated_at: datetime
    owners: list[Owner]
    members: int
    version_bytes: int  # named versions of its phases


_ACCOUNT = "id, email, display_name, role, disabled_at, created_at"


def _account(row: asyncpg.Record) -> Account:
    return Account(**{k: row[k] for k in Account.__dataclass_fields__})


def like_pattern(text: str) -> str:
    """`text` as a literal inside an ILIKE pattern (with ESCAPE '\\'): it matches itself only."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True, slots=True)
class AccountPage:
    accounts: list[Account]
    next_after: str | None  # for the next page; None on the last


async def list_accounts(
    db: Db, *, query: str = "", after: str | None = None, limit: int = 50
) -> AccountPage:
    """Accounts whose email or display name contains `query` (any case), by email.

    The keyset is the lower-cased email, as Postgres lowers it: unique (an index says so),
    and compared in the same collation it was sorted in.
    """
    rows = await db.fetch(
        f"SELECT {_ACCOUNT}, lower(email) AS sort_key FROM users"
        " WHERE ($1 = '' OR email ILIKE $2 ESCAPE '\\' OR display_name ILIKE $2 ESCAPE '\\')"
        " AND ($3::text IS NULL OR lower(email) > $3)"
        " ORDER BY lower(email) LIMIT $4",
        query,
        like_pattern(query),
        after,
        limit + 1,
    )
    more = len(rows) > limit
    return AccountPage(
        [_account(r) for r in rows[:limit]], rows[limit - 1]["sort_key"] if more else None
    )


async def get_account(db: Db, user_id: uuid.UUID) -> Account:
    row = await db.fetchrow(f"SELECT {_ACCOUNT} FROM users WHERE id = $1", user_id)
    if row is None:
        raise NotFound("user", user_id)
    return _account(row)


async def find_account(db: Db, email: str) -> Account | None:
    row = await db.fetchrow(f"SELECT {_ACCOUNT} FROM users WHERE lower(email) = lower($1)", email)
    return None if row is None else _account(row)


async def memberships(db: Db, user_id: uuid.UUID) -> list[Membership]:
    rows = await db.fetch(
        "SELECT p.id AS project_id, p.name, m.role, m.added_at FROM project_members m"
        " JOIN projects p ON p.id = m.project_id WHERE m.user_id = $1 ORDER BY p.name, p.id",
        user_id,
    )
    return [Membership(**dict(r)) for r in rows]


@dataclass(frozen=True, slots=True)
class ProjectPage:
    projects: list[ProjectSummary]
    next_after: tuple[datetime, uuid.UUID] | None  # for the next page; None on the last


async def list_projects(
    db: Db, *, after: tuple[datetime, uuid.UUID] | None = None, limit: int = 50
) -> ProjectPage:
    """Every project, oldest first; the keyset is (created_at, id)."""
    after_at, after_id = after if after is not None else (None, None)
    rows = await db.fetch(
        "SELECT p.id, p.name, p.created_at, p.updated_at,"
        " (SELECT count(*) FROM project_members m WHERE m.project_id = p.id) AS members,"
        " coalesce((SELECT array_agg(u.id ORDER BY u.email) FROM project_members m"
        "   JOIN users u ON u.id = m.user_id WHERE m.project_id = p.id AND m.role = 'owner'),"
        "   '{}') AS owner_ids,"
        " coalesce((SELECT array_agg(u.email ORDER BY u.email) FROM project_members m"
        "   JOIN users u ON u.id = m.user_id WHERE m.project_id = p.id AND m.role = 'owner'),"
        "   '{}') AS owner_emails,"
        " coalesce((SELECT sum(octet_length(v.markdown) + octet_length(v.prosemirror::text))"
        "   FROM phase_versions v WHERE v.project_id = p.id), 0)::bigint AS version_bytes"
        " FROM projects p"
        " WHERE $1::timestamptz IS NULL OR (p.created_at, p.id) > ($1, $2::uuid)"
        " ORDER BY p.created_at, p.id LIMIT $3",
        after_at,
        after_id,
        limit + 1,
    )
    found = [
        ProjectSummary(
            id=r["id"],
            name=r["name"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            owners=[Owner(i, e) for i, e in zip(r["owner_ids"], r["owner_emails"], strict=True)],
            members=r["members"],
            version_bytes=r["version_bytes"],
        )
        for r in rows[:limit]
    ]
    last = found[-1] if len(rows) > limit else None
    return ProjectPage(found, None if last is None else (last.created_at, last.id))


async def document_bytes(db: Db, documents: dict[str, uuid.UUID]) -> dict[uuid.UUID, int]:
    """Bytes stored per project for the named documents (document name -> its project):
    the update log plus the compacted snapshot. Looked up by name, so each is an index probe."""
    rows = await db.fetch(
        "SELECT d.project, sum("
        " coalesce((SELECT sum(octet_length(u.update)) FROM document_updates u"
        "   WHERE u.document = d.name), 0)"
        " + coalesce((SELECT octet_length(s.state) FROM document_snapshots s"
        "   WHERE s.document = d.name), 0))::bigint AS bytes"
        " FROM unnest($1::text[], $2::uuid[]) AS d(name, project) GROUP BY d.project",
        list(documents),
        list(documents.values()),
    )
    return {r["project"]: r["bytes"] for r in rows}


async def lock_with_admins(conn: Conn, user_id: uuid.UUID) -> tuple[users.User, int]:
    """Lock the admin rows, then the user's; return the user and how many other enabled
    admins there are. Admins first, in one order, for every change here: two admins acting
    on each other at once queue rather than deadlock, and the second sees what the first
    did, so one enabled admin always remains."""
    admins = await conn.fetch(
        "SELECT id, disabled_at FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE"
    )
    others = sum(1 for r in admins if r["id"] != user_id and r["disabled_at"] is None)
    return await users.lock_user(conn, user_id), others


async def set_disabled(
    db: asyncpg.Pool, user_id: uuid.UUID, disabled: bool, *, actor: uuid.UUID | None
) -> bool:
    """Disable (revoking every session) or enable an account; audited. False if it already
    was. Raises NotFound, or Conflict when it would leave no enabled admin."""
    async with db.acquire() as conn, conn.transaction():
        user, other_admins = await lock_with_admins(conn, user_id)
        if (user.disabled_at is not None) == disabled:
            return False
        if disabled and user.role == "admin" and other_admins == 0:
            raise Conflict("this is the last enabled admin account")
        await conn.execute(
            "UPDATE users SET disabled_at = CASE WHEN $2 THEN now() END WHERE id = $1",
            user_id,
            disabled,
        )
        if disabled:
            await tokens.revoke_user(conn, user_id)
        action = "account.disabled" if disabled else "account.enabled"
        await audit.record(conn, action, actor=actor, target_user=user_id, email=user.email)
    return True


async def set_role(
    db: asyncpg.Pool, user_id: uuid.UUID, role: str, *, actor: uuid.UUID | None
) -> str:
    """Set the account role, audited; returns the previous one. Raises NotFound, or Conflict
    when it would leave no enabled admin."""
    async with db.acquire() as conn, conn.transaction():
        user, other_admins = await lock_with_admins(conn, user_id)
        if user.role == role:
            return role
        if user.role == "admin" and user.disabled_at is None and other_admins == 0:
            raise Conflict("this is the last enabled admin account")
        await conn.execute("UPDATE users SET role = $2 WHERE id = $1", user_id, role)
        change: dict[str, Any] = {"from": user.role, "to": role}  # `from` is a keyword
        await audit.record(
            conn,
            "account.role_changed",
            actor=actor,
            target_user=user_id,
            email=user.email,
            **change,
        )
    return user.role
