"""Hostile websocket input against the real server, from the outside in.

The crash test runs `ua serve` as its own process, so that a segfault shows as a dead server
instead of a dead test runner.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from pycrdt import Doc, Text, XmlFragment
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from collab.protocol import hocuspocus as hp
from collab.protocol import ywire
from collab.protocol.awareness import AwarenessEntry, encode_awareness
from tests.hclient import hclient
from tests.hostile import Case, corpus
from tests.support import (
    RunningServer,
    add_member,
    bearer,
    free_port,
    fresh_database,
    make_account,
    new_project,
    ua_process,
)
from tests.yclient import yclient


def _damaging() -> Case:
    return next(case for case in corpus() if "RuntimeError" in case.found)


def _expected_paragraphs(case: Case) -> list[str]:
    doc: Doc[object] = Doc()
    for update in case.before:
        doc.apply_update(update)
    return [str(child) for child in doc.get("content", type=XmlFragment).children]


@dataclass
class Process:
    http: httpx.AsyncClient
    ws: str
    proc: asyncio.subprocess.Process


@pytest.fixture
async def process(tmp_path: Path) -> AsyncIterator[Process]:
    async with fresh_database() as dsn:
        port = free_port()
        env = {"DATABASE_URL": dsn, "DATA_DIR": str(tmp_path), "STATUS_DEBOUNCE_S": "0.2"}
        async with ua_process(port, env, log=tmp_path / "server.log") as proc:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                yield Process(http, f"ws://127.0.0.1:{port}", proc)


async def test_an_update_yrs_fails_on_leaves_the_server_up_over_yjs(process: Process) -> None:
    case = _damaging()
    owner, pid = await new_project(process.http, "Hostile")
    name = f"projects/{pid}/phases/1"
    async with yclient(process.ws, name, owner.access_token) as attacker:
        async with yclient(process.ws, name, owner.access_token) as other:
            for update in case.before:
                await attacker.send(ywire.Update(update))
            await other.wait_until(lambda: other.paragraphs() == _expected_paragraphs(case))
            await attacker.send(ywire.Update(case.update))
            assert (await asyncio.wait_for(attacker.closed, 5))[0] == 1002
            assert (await asyncio.wait_for(other.closed, 5))[0] == 1012  # reconnect
    # The conversions that used to segfault on the half-integrated replica.
    for _ in range(3):
        r = await process.http.get(f"/api/projects/{pid}/phases/1", headers=bearer(owner))
        assert r.status_code == 200, r.text
        await asyncio.sleep(0.4)  # the debounced status update and re-index run too
    assert process.proc.returncode is None
    async with yclient(process.ws, name, owner.access_token) as back:
        assert back.paragraphs() == _expected_paragraphs(case)


async def test_an_update_yrs_fails_on_leaves_the_server_up_over_collab(process: Process) -> None:
    case = _damaging()
    owner, pid = await new_project(process.http, "Hostile")
    name = f"projects/{pid}/phases/1"
    async with hclient(process.ws) as attacker, hclient(process.ws) as other:
        await attacker.open(name, owner.access_token)
        theirs = await other.open(name, owner.access_token)
        for update in case.before:
            await attacker.send(name, ywire.Update(update))
        await other.wait_until(lambda: theirs.paragraphs() == _expected_paragraphs(case))
        await attacker.send(name, ywire.Update(case.update))
        await attacker.wait_until(lambda: attacker.close_code is not None)
        await other.wait_until(lambda: other.close_code is not None)
        assert (attacker.close_code, other.close_code) == (1002, 1012)
    r = await process.http.get(f"/api/projects/{pid}/phases/1", headers=bearer(owner))
    assert r.status_code == 200, r.text
    async with hclient(process.ws) as back:
        doc = await back.open(name, owner.access_token)
        await back.wait_until(lambda: doc.paragraphs() == _expected_paragraphs(case))
    assert process.proc.returncode is None


async def test_the_five_byte_update_is_refused_as_malformed(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    owner, pid = await new_project(client, "Hostile")
    async with yclient(server.ws_url, f"projects/{pid}/phases/1", owner.access_token) as c:
        await c.send(ywire.Update(bytes.fromhex("8080808001")))
        code, reason = await asyncio.wait_for(c.closed, 5)
    assert (code, reason.startswith("malformed update")) == (1002, True)


async def test_one_frame_of_many_messages_is_refused_unauthenticated(
    server: RunningServer,
) -> None:
    # 1 MiB of empty-address QueryAwareness messages: 524,288 answers before the limit.
    flood = hp.encode(hp.HFrame("", None, hp.HQueryAwareness())) * (1 << 19)
    async with connect(f"{server.ws_url}/collab", max_size=None) as ws:
        await ws.send(flood)
        with pytest.raises(ConnectionClosed):
            while True:
                reply = await asyncio.wait_for(ws.recv(), 5)
                assert not reply, "nothing is answered before authentication"
        assert ws.close_code == 4429
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        assert (await http.get("/healthz")).status_code == 200


async def test_messages_before_authentication_go_unanswered(database: str, tmp_path: Path) -> None:
    from tests.support import run_server, settings_for

    async with run_server(settings_for(database, tmp_path, ws_preauth_messages=20)) as server:
        query = hp.encode(hp.HFrame("projects/x/phases/1", None, hp.HQueryAwareness()))
        async with connect(f"{server.ws_url}/collab", max_size=None) as ws:
            for _ in range(20):
                await ws.send(query)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.3)  # no PermissionDenied per message
            await ws.send(query)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 4401


async def test_an_editor_cannot_write_thousands_of_rows_with_one_message(
    client: httpx.AsyncClient, server: RunningServer, database: str
) -> None:
    owner, pid = await new_project(client, "Hostile")
    name = f"projects/{pid}/phases/1"
    async with yclient(server.ws_url, name, owner.access_token) as c:
        source: Doc[object] = Doc()
        updates = []
        source.observe(lambda event: updates.append(event.update))
        text = source.get("ai", type=Text)
        for i in range(3001):
            text += str(i % 10)
        await c.ws.send(b"".join(ywire.encode(ywire.Update(u)) for u in updates))
        code, _ = await asyncio.wait_for(c.closed, 5)
    assert code == 4429
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetchval(
            "SELECT count(*) FROM document_updates WHERE document = $1", name
        )
    finally:
        await conn.close()
    assert rows == 0


async def test_a_viewer_cannot_flood_sync_requests_in_one_frame(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    owner, pid = await new_project(client, "Hostile")
    viewer = await add_member(client, owner, pid, "viewer")
    name = f"projects/{pid}/phases/1"
    async with yclient(server.ws_url, name, viewer.access_token) as c:
        await c.ws.send(ywire.encode(ywire.SyncStep1(b"\x00")) * 4096)
        code, _ = await asyncio.wait_for(c.closed, 5)
    assert code == 4429


async def test_awareness_is_bounded_per_peer(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    owner, pid = await new_project(client, "Hostile")
    name = f"projects/{pid}/phases/1"
    many = encode_awareness([AwarenessEntry(i, 1, "{}") for i in range(1, 131_073)])
    async with yclient(server.ws_url, name, owner.access_token) as c:
        await c.send(ywire.AwarenessMessage(many))
        code, _ = await asyncio.wait_for(c.closed, 5)
    assert code == 4413
    async with yclient(server.ws_url, name, owner.access_token) as later:
        await later.send(ywire.QueryAwareness())
        await asyncio.sleep(0.2)
        assert later.awareness == []


async def test_a_long_document_name_gets_a_clean_close(
    client: httpx.AsyncClient, server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    owner = await make_account(client)
    name = "projects/" + "x" * 5000
    async with connect(f"{server.ws_url}/yjs/{name}?token={owner.access_token}") as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 4404
    caplog.set_level(logging.INFO)
    async with hclient(server.ws_url) as h:
        await h.send("y" * 100_000, hp.AuthToken(owner.access_token))
        await asyncio.sleep(0.3)
    assert all(len(record.getMessage()) < 1000 for record in caplog.records)
