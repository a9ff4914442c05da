"""AI generation records."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.errors import Conflict, NotFound
from storage.sql import Db


@dataclass(frozen=True, slots=True)
class Generation:
    id: uuid.UUID
    project_id: uuid.UUID
    phase: int
    status: str
    model: str
    instructions: str
    prompt: list[dict[str, str]]
    temperature: float
    max_tokens: int
    started_by: uuid.UUID | None
    text: str
    error: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    started_at: datetime
    first_token_at: datetime | None
    finished_at: datetime | None
    accepted_at: datetime | None
    accepted_mode: str | None


_COLUMNS = (
    "id, project_id, phase, status, model, instructions, prompt::text AS prompt, temperature,"
    " max_tokens, started_by, text, error, prompt_tokens, completion_tokens, started_at,"
    " first_token_at, finished_at, accepted_at, accepted_mode"
)


def _generation(row: asyncpg.Record) -> Generation:
    values = dict(row)
    values["prompt"] = json.loads(values["prompt"])
    return Generation(**values)


async def fail_abandoned(db: Db, older_than_s: float) -> list[Generation]:
    """Generations whose node stopped beating: error, so the phase can generate again."""
    rows = await db.fetch(
        "UPDATE generations SET status = 'error', finished_at = now(),"
        " error = 'the server running this generation stopped'"
        " WHERE status = 'streaming' AND heartbeat_at < now() - make_interval(secs => $1)"
        f" RETURNING {_COLUMNS}",
        older_than_s,
    )
    return [_generation(r) for r in rows]


async def active_for(db: Db, user_id: uuid.UUID) -> int:
    """How many generations `user_id` has streaming, across every project and node."""
    count: int = await db.fetchval(
        "SELECT count(*) FROM generations WHERE status = 'streaming' AND started_by = $1",
        user_id,
    )
    return count


async def start(
    db: asyncpg.Pool,
    *,
    project_id: uuid.UUID,
    phase: int,
    model: str,
    instructions: str,
    prompt: list[dict[str, str]],
    temperature: float,
    max_tokens: int,
    started_by: uuid.UUID,
    max_active: int,
) -> Generation | None:
    """Insert a streaming generation, or None when `started_by` already has `max_active`.

    Count and insert run under a per-user advisory lock, in a later statement than the lock
    (so with a snapshot that sees every generation committed before the lock was granted):
    requests racing on several nodes cannot all pass the count.
    """
    async with db.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('generations:' || $1, 0))",
            str(started_by),
        )
        if await active_for(conn, started_by) >= max_active:
            return None
        try:
            row = await conn.fetchrow(
                "INSERT INTO generations (project_id, phase, model, instructions, prompt,"
                " temperature, max_tokens, started_by)"
                " VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)"
                f" RETURNING {_COLUMNS}",
                project_id,
                phase,
                model,
                instructions,
                json.dumps(prompt),
                temperature,
                max_tokens,
                started_by,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict("a generation is already running for this phase") from None
    assert row is not None
    return _generation(row)


async def beat(db: Db, generation_id: uuid.UUID, text: str, first_token: bool) -> None:
    await db.execute(
        "UPDATE generations SET heartbeat_at = now(), text = $2,"
        " first_token_at = CASE WHEN $3 THEN coalesce(first_token_at, now())"
        " ELSE first_token_at END"
        " WHERE id = $1",
        generation_id,
        text,
        first_token,
    )


async def finish(
    db: Db,
    generation_id: uuid.UUID,
    *,
    status: str,
    text: str,
    error: str | None,
    usage: tuple[int | None, int | None],
    first_token_s: float | None,
) -> Generation | None:
    """streaming → done | cancelled | error, once (a cancel may have won already)."""
    row = await db.fetchrow(
        "UPDATE generations SET status = CASE WHEN status = 'streaming' THEN $2 ELSE status END,"
        " text = $3, error = coalesce(error, $4), prompt_tokens = $5, completion_tokens = $6,"
        " first_token_at = coalesce(first_token_at,"
        " started_at + make_interval(secs => $7::float8)),"
        f" finished_at = coalesce(finished_at, now()) WHERE id = $1 RETURNING {_COLUMNS}",
        generation_id,
        status,
        text,
        error,
        usage[0],
        usage[1],
        first_token_s,
    )
    return None if row is None else _generation(row)


async def cancel(db: Db, generation_id: uuid.UUID) -> Generation | None:
    row = await db.fetchrow(
        "UPDATE generations SET status = 'cancelled', finished_at = now()"
        f" WHERE id = $1 AND status = 'streaming' RETURNING {_COLUMNS}",
        generation_id,
    )
    return None if row is None else _generation(row)


async def get(db: Db, project_id: uuid.UUID, generation_id: uuid.UUID) -> Generation:
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM generations WHERE id = $1 AND project_id = $2",
        generation_id,
        project_id,
    )
    if row is None:
        raise NotFound("generation", generation_id)
    return _generation(row)


async def list_for(db: Db, project_id: uuid.UUID, limit: int = 100) -> list[Generation]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM generations WHERE project_id = $1"
        " ORDER BY started_at DESC LIMIT $2",
        project_id,
        limit,
    )
    return [_generation(r) for r in rows]


async def mark_accepted(db: Db, generation_id: uuid.UUID, mode: str) -> None:
    await db.execute(
        "UPDATE generations SET accepted_at = now(), accepted_mode = $2 WHERE id = $1",
        generation_id,
        mode,
    )
