"""Real providers through a Postgres outage: nothing they typed is lost, nothing is called saved
before it is, and the 1013 past the journal's bound is a close they recover from by themselves."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from tests.interop.client import Driver, missing_requirements
from tests.pgfault import private_postgres
from tests.support import bearer, make_account, run_server, settings_for

SKIP_REASON = missing_requirements()
pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")

QUEUE_BYTES = 4096  # JOURNAL_QUEUE_BYTES: passed by a few of the writer's paragraphs
LONG = "x" * 600


async def closes(driver: Driver, client: str) -> list[int]:
    return [close["code"] for close in (await driver.status(client))["closes"]]


async def test_providers_keep_their_edits_through_a_database_outage(tmp_path: Path) -> None:
    with private_postgres() as pg:
        admin = await asyncpg.connect(pg.dsn)
        try:
            await admin.execute('CREATE DATABASE "outage"')
        finally:
            await admin.close()
        settings = settings_for(pg.dsn_for("outage"), tmp_path, journal_queue_bytes=QUEUE_BYTES)
        async with run_server(settings) as server, server.client() as http, Driver() as driver:
            owner = await make_account(http)
            r = await http.post("/api/projects", json={"name": "Outage"}, headers=bearer(owner))
            document = f"projects/{r.json()['id']}/phases/1"
            for client, path in (("y", "/yjs"), ("h", "/collab")):
                protocol = "yjs" if client == "y" else "hocuspocus"
                await driver.connect(
                    client,
                    protocol=protocol,
                    url=server.ws_url + path,
                    document=document,
                    token=owner.access_token,
                )
            await driver.call("insertParagraph", client="h", text="before")
            await driver.call("waitStatus", client="h", match={"unsyncedChanges": 0})

            await asyncio.to_thread(pg.stop)
            for i in range(3):
                await driver.call("insertParagraph", client="h", text=f"h{i}")
            # The y-websocket writer fills the journal's queue until the server refuses it.
            written = 0
            async with asyncio.timeout(30):
                while 1013 not in await closes(driver, "y"):
                    await driver.call("insertParagraph", client="y", text=f"y{written} {LONG}")
                    written += 1
                    await asyncio.sleep(0.05)
            print(f"refused after {written} paragraphs:", await closes(driver, "y"))
            assert written * len(LONG) < 3 * QUEUE_BYTES  # refused near the bound
            status = await driver.status("h")
            assert status["unsyncedChanges"] > 0, status  # nothing called saved meanwhile

            await asyncio.to_thread(pg.start)
            expected = 1 + 3 + written
            for client in ("y", "h"):
                await driver.call("waitFor", client=client, paragraphs=expected, timeoutMs=30_000)
            await driver.call(
                "waitStatus", client="h", match={"unsyncedChanges": 0}, timeoutMs=30_000
            )
            live = await driver.paragraphs("y")
            assert live == await driver.paragraphs("h")
            # Stored, not only live: a fresh client loads the same document.
            await driver.connect(
                "fresh",
                protocol="yjs",
                url=server.ws_url + "/yjs",
                document=document,
                token=owner.access_token,
            )
            await driver.call("waitFor", client="fresh", paragraphs=expected, timeoutMs=10_000)
            assert await driver.paragraphs("fresh") == live
