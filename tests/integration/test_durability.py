"""Durability with real processes: SIGKILL keeps every acknowledged update; big documents sync."""

from __future__ import annotations

import asyncio
import signal
from asyncio.subprocess import Process
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx

from collab.protocol import hocuspocus as hp
from collab.protocol import ywire
from tests.hclient import HDoc, hclient
from tests.support import (
    RunningServer,
    bearer,
    free_port,
    fresh_database,
    make_account,
    ua_process,
    wait_unloaded,
)
from tests.yclient import yclient


def ua_serve(dsn: str, data_dir: Path, port: int) -> AbstractAsyncContextManager[Process]:
    return ua_process(port, {"DATABASE_URL": dsn, "DATA_DIR": str(data_dir)})


async def test_sigkill_keeps_acknowledged_updates(tmp_path: Path) -> None:
    async with fresh_database() as dsn:
        port = free_port()
        base, ws = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
        async with ua_serve(dsn, tmp_path, port) as proc:
            async with httpx.AsyncClient(base_url=base) as http:
                owner = await make_account(http)
                pid = (
                    await http.post("/api/projects", json={"name": "K"}, headers=bearer(owner))
                ).json()["id"]
            name = f"projects/{pid}/phases/1"
            async with hclient(ws) as c:
                doc = await c.open(name, owner.access_token)
                await c.wait_until(lambda: doc.saved == 1)
                for i in range(40):
                    await c.add_paragraph(name, f"line {i}")
                await c.wait_until(lambda: doc.saved >= 21)  # at least 20 edits acknowledged
                acknowledged = doc.saved - 1
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
                local_state = doc.doc.get_update()
        async with ua_serve(dsn, tmp_path, port):
            async with hclient(ws) as fresh:
                after = await fresh.open(name, owner.access_token)
                await fresh.wait_until(lambda: len(after.paragraphs()) >= acknowledged)
                lines = after.paragraphs()
                assert lines[:acknowledged] == [
                    f"<paragraph>line {i}</paragraph>" for i in range(acknowledged)
                ]
            # The old client reconnects with its full state: Yjs sync fills in the rest.
            async with hclient(ws) as again:
                back = again.docs[name] = HDoc(name)
                back.doc.apply_update(local_state)
                await again.send(name, hp.AuthToken(owner.access_token))
                await again.wait_until(lambda: back.scope is not None)
                await again.send(name, ywire.SyncStep2(local_state))
                await again.wait_until(lambda: back.saved >= 1)
            async with hclient(ws) as check:
                final = await check.open(name, owner.access_token)
                await check.wait_until(lambda: len(final.paragraphs()) == 40)


async def test_big_document_syncs_and_rooms_unload(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    owner = await make_account(client)
    pid = (await client.post("/api/projects", json={"name": "Big"}, headers=bearer(owner))).json()[
        "id"
    ]
    name = f"projects/{pid}/phases/10"
    chunk = "x" * (1024 * 1024)
    async with yclient(server.ws_url, name, owner.access_token) as writer:
        for i in range(20):
            await writer.add_paragraph(f"{i}:{chunk}")
        async with yclient(server.ws_url, name, owner.access_token) as probe:
            await probe.wait_until(lambda: len(probe.paragraphs()) == 20, timeout=60)
    await wait_unloaded(server, name, timeout=20)
    async with yclient(server.ws_url, name, owner.access_token, open_timeout=30) as late:
        assert len(late.paragraphs()) == 20
        assert sum(len(p) for p in late.paragraphs()) > 20 * 1024 * 1024


async def test_compaction_merges_the_log_and_reload_is_identical(
    database: str, tmp_path: Path
) -> None:
    import asyncpg

    from tests.support import run_server, settings_for

    settings = settings_for(database, tmp_path, compaction_threshold=5, room_idle_unload_s=0.2)
    async with run_server(settings) as srv, srv.client() as http:
        owner = await make_account(http)
        pid = (await http.post("/api/projects", json={"name": "C"}, headers=bearer(owner))).json()[
            "id"
        ]
        name = f"projects/{pid}/phases/11"
        async with yclient(srv.ws_url, name, owner.access_token) as c:
            for i in range(12):
                await c.add_paragraph(f"row {i}")
            before = c.doc.get_state()
        conn = await asyncpg.connect(database)
        try:
            async with asyncio.timeout(20):
                while (
                    await conn.fetchval(
                        "SELECT count(*) FROM document_snapshots WHERE document = $1", name
                    )
                    == 0
                ):
                    await asyncio.sleep(0.1)
            left = await conn.fetchval(
                "SELECT count(*) FROM document_updates WHERE document = $1", name
            )
        finally:
            await conn.close()
        assert left == 0
        async with yclient(srv.ws_url, name, owner.access_token) as again:
            assert again.paragraphs() == [f"<paragraph>row {i}</paragraph>" for i in range(12)]
            assert again.doc.get_state() == before
