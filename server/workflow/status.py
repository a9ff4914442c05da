"""Phase statuses and their cascade: the one place where a status changes.

not_started → in_progress (first change) → completed (an editor marks it) → stale (a phase
it builds on changed since) → in_progress | completed again. A content change to a completed
phase keeps it completed but makes its dependants stale.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from server.errors import Conflict
from storage.repos import phases as repo
from storage.repos.phases import Phase, StatusChange


def dependants(phases: list[Phase], number: int) -> list[int]:
    """Phases that build on `number`, directly or transitively (dependencies point back)."""
    found: set[int] = set()
    for phase in phases:
        if number in phase.depends_on or found.intersection(phase.depends_on):
            found.add(phase.number)
    return sorted(found)


async def content_changed(
    db: asyncpg.Pool, project_id: uuid.UUID, number: int, changed_at: datetime | None = None
) -> list[StatusChange]:
    """Record that phase `number`'s content changed at `changed_at` (default now); return
    every status that moved.

    Edits are recorded after a debounce, so a phase may have been completed in between: only
    what was completed before the edit goes stale, and a phase's times never move back.
    """
    changed_at = changed_at or datetime.now(UTC)
    async with db.acquire() as conn, conn.transaction():
        phases = await repo.lock_phases(conn, project_id)
        if not phases:
            return []  # the project is gone
        target = phases[number - 1]
        await repo.touch_content(conn, project_id, number, changed_at)
        status = "in_progress" if target.status in ("not_started", "stale") else target.status
        changes = []
        if status != target.status or changed_at > target.updated_at:
            changes.append(await repo.set_status(conn, project_id, number, status, None))
        when = changed_at.isoformat(timespec="seconds")
        reason = f"phase {number} ({target.title}) changed at {when}"
        for dep in dependants(phases, number):
            phase = phases[dep - 1]
            completed_before = phase.completed_at is None or phase.completed_at < changed_at
            if phase.status == "completed" and completed_before:
                changes.append(await repo.set_status(conn, project_id, dep, "stale", reason))
        return changes


async def complete(db: asyncpg.Pool, project_id: uuid.UUID, number: int) -> StatusChange:
    async with db.acquire() as conn, conn.transaction():
        await repo.lock_phases(conn, project_id)
        return await repo.set_status(conn, project_id, number, "completed", None)


async def reopen(db: asyncpg.Pool, project_id: uuid.UUID, number: int) -> StatusChange:
    async with db.acquire() as conn, conn.transaction():
        phases = await repo.lock_phases(conn, project_id)
        current = phases[number - 1].status
        if current not in ("completed", "stale"):
            raise Conflict(f"only a completed or stale phase can be reopened; it is {current}")
        return await repo.set_status(conn, project_id, number, "in_progress", None)
