"""Projects and their members."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.errors import Conflict, NotFound
from storage.repos.documents import delete_documents
from storage.sql import Conn, Db


@dataclass(frozen=True, slots=True)
class Project:
    id: uuid.UUID
    name: str
    description: str
    template_key: str
    template_version: int
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Member:
    user_id: uuid.UUID
    email: str
    display_name: str
    role: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class NewPhase:
    number: int
    key: str
    title: str
    description: str
    guidance: str
    depends_on: Sequence[int]


_COLUMNS = (
    "id, name, description, template_key, template_version, created_by, created_at, updated_at"
)


def _project(row: asyncpg.Record) -> Project:
    return Project(**{k: row[k] for k in Project.__dataclass_fields__})


@contextlib.asynccontextmanager
async def _transaction(db: Db) -> AsyncIterator[Conn]:
    """A transaction of its own on a pool; on a connection, a savepoint in the caller's, so
    the caller can commit more (an audit entry) with the change."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn, conn.transaction():
            yield conn
    else:
        async with db.transaction():
            yield db


async def create_project(
    db: Db,
    *,
    owner: uuid.UUID,
    name: str,
    description: str,
    template: tuple[str, int],
    phases: Sequence[NewPhase],
) -> Project:
    async with _transaction(db) as conn:
        row = await conn.fetchrow(
            f"INSERT INTO projects (name, description, template_key, template_version, created_by)"
            f" VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}",
            name,
            description,
            template[0],
            template[1],
            owner,
        )
        assert row is not None
        await conn.execute(
            "INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'owner')",
            row["id"],
            owner,
        )
        await conn.executemany(
            "INSERT INTO phases (project_id, number, key, title, description, guidance, depends_on)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [
                (row["id"], p.number, p.key, p.title, p.description, p.guidance, list(p.depends_on))
                for p in phases
            ],
        )
    return _project(row)


async def list_projects_for(db: asyncpg.Pool, user_id: uuid.UUID) -> list[tuple[Project, str]]:
    rows = await db.fetch(
        f"SELECT {', '.join('p.' + c for c in _COLUMNS.split(', '))}, m.role FROM projects p "
        "JOIN project_members m ON m.project_id = p.id WHERE m.user_id = $1 "
        "ORDER BY p.created_at DESC",
        user_id,
    )
    return [(_project(r), r["role"]) for r in rows]


async def get_project(db: asyncpg.Pool, project_id: uuid.UUID) -> Project:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM projects WHERE id = $1", project_id)
    if row is None:
        raise NotFound("project", project_id)
    return _project(row)


async def update_project(
    db: asyncpg.Pool, project_id: uuid.UUID, *, name: str | None, description: str | None
) -> Project:
    row = await db.fetchrow(
        f"UPDATE projects SET name = coalesce($2, name), description = coalesce($3, description),"
        f" updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
        project_id,
        name,
        description,
    )
    if row is None:
        raise NotFound("project", project_id)
    return _project(row)


async def delete_project(db: Db, project_id: uuid.UUID, documents: Sequence[str]) -> list[str]:
    """Delete a project, its rows (by cascade) and its `documents`, in one transaction.

    Returns the names of its export files, which only the caller can remove.
    """
    async with _transaction(db) as conn:
        files = await conn.fetch(
            "SELECT file_name FROM exports WHERE project_id = $1 AND file_name IS NOT NULL",
            project_id,
        )
        await delete_documents(conn, documents)
        await conn.execute("DELETE FROM projects WHERE id = $1", project_id)
    return [row["file_name"] for row in files]


async def member_role(db: asyncpg.Pool, project_id: uuid.UUID, user_id: uuid.UUID) -> str | None:
    """The member's project role; None if not a member, or if the account is disabled (the
    websocket endpoints verify tokens without another lookup: this one covers it)."""
    role: str | None = await db.fetchval(
        "SELECT m.role FROM project_members m JOIN users u ON u.id = m.user_id"
        " WHERE m.project_id = $1 AND m.user_id = $2 AND u.disabled_at IS NULL",
        project_id,
        user_id,
    )
    return role


async def list_members(db: asyncpg.Pool, project_id: uuid.UUID) -> list[Member]:
    rows = await db.fetch(
        "SELECT m.user_id, u.email, u.display_name, m.role, m.added_at FROM project_members m "
        "JOIN users u ON u.id = m.user_id WHERE m.project_id = $1 ORDER BY m.added_at",
        project_id,
    )
    return [Member(**dict(r)) for r in rows]


async def add_member(conn: Db, project_id: uuid.UUID, user_id: uuid.UUID, role: str) -> None:
    """Add a member, or change the role of one who already is."""
    await conn.execute(
        "INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3) "
        "ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
        project_id,
        user_id,
        role,
    )


async def _lock_owners(conn: Conn, project_id: uuid.UUID) -> int:
    # Row locks on the owners serialise concurrent demotions, so two owners can't both leave.
    rows = await conn.fetch(
        "SELECT user_id FROM project_members WHERE project_id = $1 AND role = 'owner' FOR UPDATE",
        project_id,
    )
    return len(rows)


async def change_member(db: Db, project_id: uuid.UUID, user_id: uuid.UUID, role: str | None) -> str:
    """Set a member's role, or remove them when role is None; the last owner stays.
    Returns the role they had."""
    async with _transaction(db) as conn:
        owners = await _lock_owners(conn, project_id)
        current = await conn.fetchval(
            "SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2 FOR UPDATE",
            project_id,
            user_id,
        )
        if current is None:
            raise NotFound("member", user_id)
        if current == "owner" and role != "owner" and owners <= 1:
            raise Conflict("a project keeps at least one owner")
        if role is None:
            await conn.execute(
                "DELETE FROM project_members WHERE project_id = $1 AND user_id = $2",
                project_id,
                user_id,
            )
        else:
            await add_member(conn, project_id, user_id, role)
    return str(current)
