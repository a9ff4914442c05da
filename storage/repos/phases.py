"""Phases of a project: the workflow's rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.errors import NotFound


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


_COLUMNS = (
    "project_id, number, key, title, description, guidance, depends_on, status, stale_because,"
    " updated_at"
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
