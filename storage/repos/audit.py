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
    actor_email: str | None = None  # None: the CLI, or an account deleted since


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
    target: uuid.UUID | None = None,
    target_user: uuid.UUID | None = None,
    target_project: uuid.UUID | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[Entry]:
    """Newest first; `before_id` pages back from the last entry of the previous page.

    `target` matches either column: an id names an account or a project, never both.
    """
    rows = await db.fetch(
        "SELECT a.id, a.at, a.actor, a.action, a.target_user, a.target_project, a.details,"
        " u.email AS actor_email FROM audit_log a LEFT JOIN users u ON u.id = a.actor"
        " WHERE ($1::uuid IS NULL OR a.actor = $1)"
        " AND ($2::uuid IS NULL OR a.target_user = $2 OR a.target_project = $2)"
        " AND ($3::uuid IS NULL OR a.target_user = $3)"
        " AND ($4::uuid IS NULL OR a.target_project = $4)"
        " AND ($5::timestamptz IS NULL OR a.at >= $5)"
        " AND ($6::bigint IS NULL OR a.id < $6)"
        " ORDER BY a.id DESC LIMIT $7",
        actor,
        target,
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
