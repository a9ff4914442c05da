"""Nodes started together on an empty database all come up: start-up DDL is serialised.

Of three `ua serve` nodes started at once, one exited with a UniqueViolationError: two had
run `CREATE INDEX IF NOT EXISTS` for the RAG HNSW index together, outside the migration lock.
Here real processes race through the whole start-up path (extension, migrations, the index
for the configured embedder), on a fresh database each round.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import asyncpg

from tests.support import free_port, fresh_database, ua_process

ROUNDS = 5
NODES = 4


async def _start_together(dsn: str, tmp: Path) -> None:
    env = {"DATABASE_URL": dsn, "DATA_DIR": str(tmp)}
    logs = [tmp / f"node{i}.log" for i in range(NODES)]
    async with contextlib.AsyncExitStack() as stack:
        # return_exceptions: every start runs to its end (ready, or exited and cleaned up),
        # so no process outlives the round whatever happens.
        results = await asyncio.gather(
            *(stack.enter_async_context(ua_process(free_port(), env, log=log)) for log in logs),
            return_exceptions=True,
        )
        failed = [
            f"node{i}: {result!r}\n{logs[i].read_text()[-2000:]}"
            for i, result in enumerate(results)
            if isinstance(result, BaseException)
        ]
        assert not failed, "\n\n".join(failed)
        # All ready, and still up once the last one is: none died after its /readyz.
        codes = [r.returncode for r in results if isinstance(r, asyncio.subprocess.Process)]
        assert codes == [None] * NODES, codes


async def test_nodes_started_together_on_an_empty_database_all_come_up(tmp_path: Path) -> None:
    for round_ in range(ROUNDS):
        node_dir = tmp_path / f"round{round_}"
        node_dir.mkdir()
        async with fresh_database() as dsn:
            await _start_together(dsn, node_dir)
            assert await _hnsw_indexes(dsn), "start-up did not reach the RAG index"


async def _hnsw_indexes(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'rag_chunks_hnsw_%'"
        )
        return [r["indexname"] for r in rows]
    finally:
        await conn.close()
