"""The CRDT update log and compacted snapshots (the shape collab.persistence asks for)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

from storage.sql import Db

Merge = Callable[[list[bytes]], bytes]


@dataclass(frozen=True, slots=True)
class StoredDocument:
    snapshot: bytes | None
    updates: list[bytes]
    last_id: int


class PostgresUpdateLog:
    def __init__(self, db: asyncpg.Pool) -> None:
        self._db = db

    async def append(self, entries: Sequence[tuple[str, bytes]]) -> None:
        """One statement: lock each document (sorted: no deadlock between batches), then
        insert. Ids come from a sequence at insert time, so without the lock a batch could
        take a lower id than another and commit after it; a reader that saw the higher id
        would then step over the lower one for good. Under the lock, held until commit, a
        document's rows commit in id order, and `load_after(position)` never skips a row."""
        await self._db.execute(
            "WITH locked AS ("
            " SELECT pg_advisory_xact_lock(hashtextextended(document, 8))"
            " FROM (SELECT DISTINCT unnest($1::text[]) AS document ORDER BY 1) AS documents)"
            " INSERT INTO document_updates (document, update)"
            " SELECT * FROM unnest($1::text[], $2::bytea[])"
            " WHERE (SELECT count(*) FROM locked) >= 0",  # every lock is taken before any id
            [document for document, _ in entries],
            [update for _, update in entries],
        )

    async def load(self, document: str) -> StoredDocument:
        # Log ids start at 1, so "after 0" is the snapshot (if any) and every later row.
        return await self.load_after(document, 0)

    async def load_after(self, document: str, after_id: int) -> StoredDocument:
        """What was logged after `after_id`, with the snapshot if compaction passed it."""
        async with self._db.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            snap = await conn.fetchrow(
                "SELECT state, last_update_id FROM document_snapshots"
                " WHERE document = $1 AND last_update_id > $2",
                document,
                after_id,
            )
            rows = await conn.fetch(
                "SELECT id, update FROM document_updates WHERE document = $1 AND id > $2"
                " ORDER BY id",
                document,
                after_id if snap is None else snap["last_update_id"],
            )
        last = max(
            [after_id] + ([snap["last_update_id"]] if snap else []) + [r["id"] for r in rows]
        )
        return StoredDocument(
            None if snap is None else snap["state"], [r["update"] for r in rows], last
        )

    async def heads(self, documents: Sequence[str]) -> dict[str, int]:
        """The last log id of each document (its snapshot's when the log was compacted
        away): one index probe per document, in one round trip."""
        rows = await self._db.fetch(
            "SELECT name, GREATEST("
            " (SELECT max(id) FROM document_updates WHERE document = name),"
            " (SELECT last_update_id FROM document_snapshots WHERE document = name)) AS head"
            " FROM unnest($1::text[]) AS name",
            list(documents),
        )
        return {row["name"]: row["head"] or 0 for row in rows}

    async def log_length(self, document: str) -> int:
        count: int = await self._db.fetchval(
            "SELECT count(*) FROM document_updates WHERE document = $1", document
        )
        return count

    async def compact(self, document: str, merge: Merge) -> int:
        async with self._db.acquire() as conn, conn.transaction():
            # One compaction per document at a time, across every node and worker.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", document)
            snap = await conn.fetchrow(
                "SELECT state, last_update_id FROM document_snapshots WHERE document = $1",
                document,
            )
            after = 0 if snap is None else snap["last_update_id"]
            rows = await conn.fetch(
                "SELECT id, update FROM document_updates WHERE document = $1 AND id > $2 "
                "ORDER BY id",
                document,
                after,
            )
            if not rows:
                return 0
            parts = ([snap["state"]] if snap else []) + [r["update"] for r in rows]
            state = await asyncio.to_thread(merge, parts)
            last = rows[-1]["id"]
            await conn.execute(
                "INSERT INTO document_snapshots (document, state, last_update_id) "
                "VALUES ($1, $2, $3) ON CONFLICT (document) DO UPDATE "
                "SET state = excluded.state, last_update_id = excluded.last_update_id, "
                "updated_at = now()",
                document,
                state,
                last,
            )
            await conn.execute(
                "DELETE FROM document_updates WHERE document = $1 AND id <= $2", document, last
            )
        return len(rows)


async def delete_documents(db: Db, documents: Sequence[str]) -> None:
    """Forget documents entirely: their log and their snapshot (a deleted project's)."""
    names = list(documents)
    await db.execute("DELETE FROM document_updates WHERE document = ANY($1::text[])", names)
    await db.execute("DELETE FROM document_snapshots WHERE document = ANY($1::text[])", names)
