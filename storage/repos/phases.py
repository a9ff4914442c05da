"""Phases of a project: the workflow's rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.errors import NotFound
from storage.sql import Conn


@dataclass(frozen=True, slots=True)
class Phase:
    project_id: uuid.UUID
    number: int
    key: str
    title: str
    description: str
    guidance: str
    depends_on: tuple[int, ...]
    status: str
    stale_because: str | None
    updated_at: datetime
    completed_at: datetime | None = None


_COLUMNS = (
    "project_id, number, key, title, description, guidance, depends_on, status, stale_because,"
    " updated_at, completed_at"
)


def _phase(row: asyncpg.Record) -> Phase:
    values = dict(row)
    values["depends_on"] = tuple(values["depends_on"])
    return Phase(**values)


async def list_phases(db: asyncpg.Pool, project_id: uuid.UUID) -> list[Phase]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM phases WHERE project_id = $1 ORDER BY number", project_id
    )
    return [_phase(r) for r in rows]


async def get_phase(db: asyncpg.Pool, project_id: uuid.UUID, number: int) -> Phase:
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM phases WHERE project_id = $1 AND number = $2", project_id, number
    )
    if row is None:
        raise NotFound("phase", number)
    return _phase(row)


@dataclass(frozen=True, slots=True)
class StatusChange:
    number: int
    title: str
    status: str
    stale_because: str | None
    updated_at: datetime


_SET_STATUS = (
    "UPDATE phases SET status = $3, stale_because = $4, updated_at = now(),"
    " completed_at = CASE WHEN $3 = 'completed' THEN now() ELSE completed_at END"
    " WHERE project_id = $1 AND number = $2"
    " RETURNING number, title, status, stale_because, updated_at"
)


async def lock_phases(conn: Conn, project_id: uuid.UUID) -> list[Phase]:
    """Every phase of a project, locked: status changes of one project run one at a time."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM phases WHERE project_id = $1 ORDER BY number FOR UPDATE",
        project_id,
    )
    return [_phase(r) for r in rows]


async def set_status(
    conn: Conn, project_id: uuid.UUID, number: int, status: str, stale_because: str | None
) -> StatusChange:
    row = await conn.fetchrow(_SET_STATUS, project_id, number, status, stale_because)
    if row is None:
        raise NotFound("phase", number)
    return StatusChange(**dict(row))


async def touch_content(
    conn: Conn, project_id: uuid.UUID, number: int, changed_at: datetime
) -> None:
    """The content changed at `changed_at` (recorded later, after a debounce): times only
    move forward."""
    await conn.execute(
        "UPDATE phases SET content_changed_at = GREATEST(content_changed_at, $3),"
        " updated_at = GREATEST(updated_at, $3)"
        " WHERE project_id = $1 AND number = $2",
        project_id,
        number,
        changed_at,
    )
