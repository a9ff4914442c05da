"""The audit log: who did what to which account or project."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from storage.sql import Db


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    at: datetime
    actor: uuid.UUID | None
    action: str
    target_user: uuid.UUID | None
    target_project: uuid.UUID | None
    details: dict[str, Any]


async def record(
    db: Db,
    action: str,
    *,
    actor: uuid.UUID | None,
    target_user: uuid.UUID | None = None,
    target_project: uuid.UUID | None = None,
    **details: Any,
) -> None:
    """Write one entry; pass the transaction's connection so it commits with the change."""
    await db.execute(
        "INSERT INTO audit_log (actor, action, target_user, target_project, details)"
        " VALUES ($1, $2, $3, $4, $5::jsonb)",
        actor,
        action,
        target_user,
        target_project,
        json.dumps(details, default=str),
    )


async def search(
    db: Db,
    *,
    actor: uuid.UUID | None = None,
    target_user: uuid.UUID | None = None,
    target_project: uuid.UUID | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[Entry]:
    """Newest first; `before_id` pages back from the last entry of the previous page."""
    rows = await db.fetch(
        "SELECT id, at, actor, action, target_user, target_project, details FROM audit_log"
        " WHERE ($1::uuid IS NULL OR actor = $1)"
        " AND ($2::uuid IS NULL OR target_user = $2)"
        " AND ($3::uuid IS NULL OR target_project = $3)"
        " AND ($4::timestamptz IS NULL OR at >= $4)"
        " AND ($5::bigint IS NULL OR id < $5)"
        " ORDER BY id DESC LIMIT $6",
        actor,
        target_user,
        target_project,
        since,
        before_id,
        limit,
    )
    return [_entry(row) for row in rows]


def _entry(row: asyncpg.Record) -> Entry:
    values = dict(row)
    values["details"] = json.loads(values["details"])
    return Entry(**values)
