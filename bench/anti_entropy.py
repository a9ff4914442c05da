"""What the anti-entropy check costs the database: one `heads` query for N loaded rooms.

Fills a fresh database (embedded Postgres, or DATABASE_URL's server) with N documents of
`--rows` log rows each, then times the query a node runs every ANTI_ENTROPY_S seconds.

    python -m bench.anti_entropy --rooms 1000 --rows 200
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import asyncpg

from storage.db import prepare_schema
from storage.repos.documents import PostgresUpdateLog
from tests.support import fresh_database


async def run(rooms: int, rows: int, rounds: int, interval_s: float) -> None:
    async with fresh_database() as dsn:
        await prepare_schema(dsn)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            log = PostgresUpdateLog(pool)
            names = [f"projects/bench/phases/{n}" for n in range(rooms)]
            update = b"\x01" * 24  # the size of one typed character's update
            for _ in range(rows):
                await log.append([(name, update) for name in names])
            await pool.execute("ANALYZE document_updates")
            timings = []
            for _ in range(rounds):
                started = time.perf_counter()
                heads = await log.heads(names)
                timings.append(time.perf_counter() - started)
            assert len(heads) == rooms and min(heads.values()) > 0
        finally:
            await pool.close()
    median = statistics.median(timings)
    p99 = sorted(timings)[int(len(timings) * 0.99) - 1]
    print(f"rooms loaded          {rooms} ({rows} log rows each, {rooms * rows} rows)")
    print(f"heads query           median {median * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    print(f"queries per second    {1 / interval_s:.2f} per node (one per {interval_s:g} s)")
    print(f"database time         {median / interval_s * 100:.2f} % of one core per node")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--interval", type=float, default=2.0, help="ANTI_ENTROPY_S")
    args = parser.parse_args()
    asyncio.run(run(args.rooms, args.rows, args.rounds, args.interval))


if __name__ == "__main__":
    main()
