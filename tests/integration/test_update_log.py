"""The update log under concurrent writers: a reader following it by position misses nothing."""

from __future__ import annotations

import asyncio

import asyncpg

from storage.db import prepare_schema
from storage.repos.documents import PostgresUpdateLog
from tests.support import fresh_database

# Commits slowed down at random after the ids are taken: the window in which a batch with a
# lower id can still be invisible while a later one is read.
SLOW_COMMITS = """
CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(random() * 0.02); RETURN NULL; END $$;
CREATE TRIGGER slow_commit AFTER INSERT ON document_updates
FOR EACH STATEMENT EXECUTE FUNCTION slow_commit();
"""


async def test_a_reader_following_positions_never_skips_a_late_commit() -> None:
    async with fresh_database() as dsn:
        await prepare_schema(dsn)
        pool = await asyncpg.create_pool(dsn, min_size=9, max_size=9)
        try:
            await pool.execute(SLOW_COMMITS)
            log = PostgresUpdateLog(pool)
            document, writers, batches = "projects/log/phases/1", 8, 25
            written = {f"{w}:{b}".encode() for w in range(writers) for b in range(batches)}
            seen: list[bytes] = []
            done = asyncio.Event()

            async def write(writer: int) -> None:
                for batch in range(batches):
                    # Other documents in the same batch: the lock is per document.
                    await log.append(
                        [(document, f"{writer}:{batch}".encode()), (f"other/{writer}", b"x")]
                    )

            async def follow() -> None:
                position = 0
                while True:
                    finished = done.is_set()
                    stored = await log.load_after(document, position)
                    seen.extend(stored.updates)
                    position = stored.last_id
                    if finished:
                        return

            reader = asyncio.create_task(follow())
            await asyncio.gather(*(write(w) for w in range(writers)))
            done.set()
            await reader
            assert len(seen) == len(set(seen)), "a row was read twice"
            assert set(seen) == written, f"{len(written - set(seen))} rows skipped"
        finally:
            await pool.close()


async def test_heads_report_the_last_id_or_the_snapshot() -> None:
    async with fresh_database() as dsn:
        await prepare_schema(dsn)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            log = PostgresUpdateLog(pool)
            await log.append([("a", b"1"), ("b", b"2"), ("a", b"3")])
            heads = await log.heads(["a", "b", "never"])
            assert heads["never"] == 0
            assert heads["a"] == (await log.load("a")).last_id > heads["b"] > 0
            # Compacted away, the log is empty: the snapshot still marks the position.
            await log.compact("a", lambda parts: b"".join(parts))
            assert (await log.heads(["a"]))["a"] == heads["a"]
        finally:
            await pool.close()
