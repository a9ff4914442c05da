"""Named versions of a phase's content."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from storage.errors import NotFound
from storage.sql import Db


@dataclass(frozen=True, slots=True)
class Version:
    id: uuid.UUID
    project_id: uuid.UUID
    number: int
    label: str
    source: str
    created_by: uuid.UUID | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class VersionContent:
    version: Version
    prosemirror: dict[str, Any]
    markdown: str


_COLUMNS = "id, project_id, number, label, source, created_by, created_at"


def _version(row: asyncpg.Record) -> Version:
    return Version(**{k: row[k] for k in Version.__dataclass_fields__})


async def create_version(
    db: Db,
    *,
    project_id: uuid.UUID,
    number: int,
    label: str,
    source: str,
    created_by: uuid.UUID | None,
    prosemirror: dict[str, Any],
    markdown: str,
) -> Version:
    row = await db.fetchrow(
        "INSERT INTO phase_versions (project_id, number, label, source, created_by, prosemirror,"
        f" markdown) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) RETURNING {_COLUMNS}",
        project_id,
        number,
        label,
        source,
        created_by,
        json.dumps(prosemirror),
        markdown,
    )
    assert row is not None
    return _version(row)


async def list_versions(db: Db, project_id: uuid.UUID, number: int) -> list[Version]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM phase_versions WHERE project_id = $1 AND number = $2"
        " ORDER BY created_at DESC, id",
        project_id,
        number,
    )
    return [_version(r) for r in rows]


async def get_version(
    db: Db, project_id: uuid.UUID, number: int, version_id: uuid.UUID
) -> VersionContent:
    row = await db.fetchrow(
        f"SELECT {_COLUMNS}, prosemirror::text AS pm, markdown FROM phase_versions"
        " WHERE id = $1 AND project_id = $2 AND number = $3",
        version_id,
        project_id,
        number,
    )
    if row is None:
        raise NotFound("version", version_id)
    return VersionContent(_version(row), json.loads(row["pm"]), row["markdown"])
