"""Export jobs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.errors import NotFound
from storage.sql import Db


@dataclass(frozen=True, slots=True)
class Export:
    id: uuid.UUID
    project_id: uuid.UUID
    format: str
    phases: tuple[int, ...] | None
    status: str
    progress: int
    size: int | None
    error: str | None
    file_name: str | None
    requested_by: uuid.UUID | None
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime | None


_COLUMNS = (
    "id, project_id, format, phases, status, progress, size, error, file_name, requested_by,"
    " created_at, finished_at, expires_at"
)


def _export(row: asyncpg.Record) -> Export:
    values = dict(row)
    values["phases"] = None if values["phases"] is None else tuple(values["phases"])
    return Export(**values)


@dataclass(frozen=True, slots=True)
class OverQuota:
    """An export refused: `scope` ("user" or "project") already has `limit` pending."""

    scope: str
    limit: int


async def create_export(
    db: asyncpg.Pool,
    project_id: uuid.UUID,
    fmt: str,
    phases: list[int] | None,
    user_id: uuid.UUID,
    *,
    max_per_user: int,
    max_per_project: int,
) -> Export | OverQuota:
    """Queue an export unless the user or the project already has as many pending (queued or
    running) as allowed. Counted under advisory locks (project first, then user: one order,
    no deadlock), in a statement after them, so racing requests on any node cannot all pass.
    """
    async with db.acquire() as conn, conn.transaction():
        for key in (project_id, user_id):
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('exports:' || $1, 0))", str(key)
            )
        counts = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE requested_by = $2) AS mine,"
            " count(*) FILTER (WHERE project_id = $1) AS project FROM exports"
            " WHERE status IN ('queued', 'running') AND (project_id = $1 OR requested_by = $2)",
            project_id,
            user_id,
        )
        assert counts is not None
        if counts["mine"] >= max_per_user:
            return OverQuota("user", max_per_user)
        if counts["project"] >= max_per_project:
            return OverQuota("project", max_per_project)
        row = await conn.fetchrow(
            "INSERT INTO exports (project_id, format, phases, requested_by)"
            f" VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}",
            project_id,
            fmt,
            phases,
            user_id,
        )
    assert row is not None
    return _export(row)


async def get_export(db: Db, export_id: uuid.UUID) -> Export:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM exports WHERE id = $1", export_id)
    if row is None:
        raise NotFound("export", export_id)
    return _export(row)


async def list_exports(db: Db, project_id: uuid.UUID) -> list[Export]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM exports WHERE project_id = $1 ORDER BY created_at DESC",
        project_id,
    )
    return [_export(r) for r in rows]


async def claim(db: Db, export_id: uuid.UUID) -> Export | None:
    """queued → running, once: a redelivered task finds nothing to do."""
    row = await db.fetchrow(
        "UPDATE exports SET status = 'running', started_at = now(), heartbeat_at = now(),"
        f" attempts = attempts + 1 WHERE id = $1 AND status = 'queued' RETURNING {_COLUMNS}",
        export_id,
    )
    return None if row is None else _export(row)


async def set_progress(db: Db, export_id: uuid.UUID, progress: int) -> None:
    await db.execute(
        "UPDATE exports SET progress = $2, heartbeat_at = now()"
        " WHERE id = $1 AND status = 'running'",
        export_id,
        progress,
    )


async def finish(db: Db, export_id: uuid.UUID, *, file_name: str, size: int, ttl_s: int) -> Export:
    row = await db.fetchrow(
        "UPDATE exports SET status = 'done', progress = 100, size = $2, file_name = $3,"
        " finished_at = now(), expires_at = now() + make_interval(secs => $4)"
        f" WHERE id = $1 RETURNING {_COLUMNS}",
        export_id,
        size,
        file_name,
        float(ttl_s),
    )
    if row is None:
        raise NotFound("export", export_id)
    return _export(row)


async def fail(db: Db, export_id: uuid.UUID, error: str) -> Export | None:
    row = await db.fetchrow(
        "UPDATE exports SET status = 'failed', error = $2, finished_at = now()"
        f" WHERE id = $1 AND status IN ('queued', 'running') RETURNING {_COLUMNS}",
        export_id,
        error[:2000],
    )
    return None if row is None else _export(row)


async def fail_abandoned(db: Db, older_than_s: float, queued_longer_than_s: float) -> list[Export]:
    """Running exports whose worker stopped beating, and exports no worker took: failed,
    never stuck (a stuck one would hold its requester's quota for good)."""
    rows = await db.fetch(
        "UPDATE exports SET status = 'failed', finished_at = now(), error = CASE status"
        " WHEN 'running' THEN 'the worker stopped while rendering; request the export again'"
        " ELSE 'no worker took this export in time; request it again' END"
        " WHERE (status = 'running' AND heartbeat_at < now() - make_interval(secs => $1))"
        " OR (status = 'queued' AND created_at < now() - make_interval(secs => $2))"
        f" RETURNING {_COLUMNS}",
        older_than_s,
        queued_longer_than_s,
    )
    return [_export(r) for r in rows]


async def expire_due(db: Db) -> list[Export]:
    rows = await db.fetch(
        "UPDATE exports SET status = 'expired' WHERE status = 'done' AND expires_at <= now()"
        f" RETURNING {_COLUMNS}"
    )
    return [_export(r) for r in rows]
