"""What a real editor's session does to the server: staying alone on a phase, reconnecting,
and a viewer's provider waiting for "saved"."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import httpx
from pycrdt import Doc, XmlElement, XmlText

from collab.protocol import hocuspocus as hp
from collab.protocol import ywire
from tests.hclient import hclient
from tests.support import (
    RunningServer,
    add_member,
    bearer,
    new_project,
    run_server,
    settings_for,
)
from tests.yclient import yclient


async def _rows(database: str, name: str) -> int:
    conn = await asyncpg.connect(database)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM document_updates WHERE document = $1", name
        )
        return count
    finally:
        await conn.close()


async def test_a_lone_editor_hears_from_the_server(database: str, tmp_path: Path) -> None:
    # Providers drop a socket that received nothing for 30 s; alone on a phase, nobody else
    # sends anything, so the server does.
    async with run_server(settings_for(database, tmp_path, ws_keepalive_s=0.3)) as server:
        async with server.client() as client:
            owner, pid = await new_project(client, "Session")
        name = f"projects/{pid}/phases/1"
        async with yclient(server.ws_url, name, owner.access_token) as alone:
            await alone.wait_until(lambda: len(alone.awareness) >= 2, timeout=5)
            assert alone.closed.done() is False
        async with hclient(server.ws_url) as h:
            await h.open(name, owner.access_token)
            frames = 0

            def counted() -> bool:
                nonlocal frames
                frames += 1
                return frames > 3

            await h.wait_until(counted, timeout=5)  # keeps hearing without sending
            assert h.close_code is None


async def test_a_reconnect_is_not_a_content_change(
    client: httpx.AsyncClient, server: RunningServer, database: str
) -> None:
    owner, pid = await new_project(client, "Session")
    name = f"projects/{pid}/phases/1"
    source: Doc[object] = Doc()
    async with yclient(server.ws_url, name, owner.access_token) as c:
        await c.add_paragraph("first draft of the vision")
        text = c.content.children[0].children[0]
        before = c.doc.get_state()
        del text[0:6]  # a deletion: what a reconnect's sync repeats
        await c.send(ywire.Update(c.doc.get_update(before)))
        source.apply_update(c.doc.get_update())
        await asyncio.sleep(0.5)
    base = f"/api/projects/{pid}/phases"
    assert (await client.post(f"{base}/1/complete", headers=bearer(owner))).status_code == 200
    assert (await client.post(f"{base}/2/complete", headers=bearer(owner))).status_code == 200
    phase = (await client.get(f"{base}/1", headers=bearer(owner))).json()
    rows = await _rows(database, name)
    async with yclient(server.ws_url, name, owner.access_token, sync=False) as again:
        again.doc.apply_update(source.get_update())
        await again.send(ywire.SyncStep1(again.doc.get_state()))
        await again.send(ywire.SyncStep2(again.doc.get_update(b"\x00")))  # its whole state
        await asyncio.wait_for(again.synced.wait(), 5)
        await asyncio.sleep(1.0)  # past the status debounce
    statuses = {p["number"]: p for p in (await client.get(base, headers=bearer(owner))).json()}
    assert statuses[1]["status"] == "completed"
    assert statuses[1]["updated_at"] == phase["updated_at"]
    assert statuses[2]["status"] == "completed"  # its dependant did not go stale
    assert await _rows(database, name) == rows


async def test_a_viewer_is_told_saved_when_it_sent_nothing_new(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    owner, pid = await new_project(client, "Session")
    viewer = await add_member(client, owner, pid, "viewer")
    name = f"projects/{pid}/phases/1"
    async with yclient(server.ws_url, name, owner.access_token) as editor:
        await editor.add_paragraph("shared text")
        text = editor.content.children[0].children[0]
        before = editor.doc.get_state()
        del text[0:2]
        await editor.send(ywire.Update(editor.doc.get_update(before)))
        await asyncio.sleep(0.3)
    async with hclient(server.ws_url) as h:
        doc = await h.open(name, viewer.access_token)
        await h.wait_until(lambda: len(doc.paragraphs()) == 1)
        assert doc.scope == hp.SCOPE_READ_ONLY
        # The client answered the server's SyncStep1 with its state relative to ours (only
        # deletions), as a provider does; and here is its whole state once more.
        await h.send(name, ywire.SyncStep2(doc.doc.get_update(b"\x00")))
        await h.wait_until(lambda: doc.saved == 2)
        assert doc.unsaved == 0
        # Something new from a viewer is dropped, and it is told so.
        before = doc.doc.get_state()
        doc.content.children.append(XmlElement("paragraph", None, [XmlText("mine")]))
        await h.send(name, ywire.Update(doc.doc.get_update(before)))
        await h.wait_until(lambda: doc.unsaved == 1)
        assert doc.saved == 2
    r = await client.get(f"/api/projects/{pid}/phases/1", headers=bearer(owner))
    assert "mine" not in r.json()["content"]["markdown"]


async def test_completing_right_after_an_edit_keeps_dependants_completed(
    database: str, tmp_path: Path
) -> None:
    # The edit is recorded after the debounce, when phases 1 and 2 are already completed:
    # it happened before either completion, so neither goes stale.
    settings = settings_for(database, tmp_path, status_debounce_s=1.5, status_max_wait_s=3)
    async with run_server(settings) as server, server.client() as client:
        owner, pid = await new_project(client, "Session")
        base = f"/api/projects/{pid}/phases"
        async with yclient(server.ws_url, f"projects/{pid}/phases/1", owner.access_token) as c:
            async with yclient(server.ws_url, f"projects/{pid}/phases/1", owner.access_token) as w:
                await c.add_paragraph("written before completing")
                await w.wait_until(lambda: len(w.paragraphs()) == 1)  # the server has it
            for n in (1, 2):
                r = await client.post(f"{base}/{n}/complete", headers=bearer(owner))
                assert r.status_code == 200
            completed = {
                p["number"]: p for p in (await client.get(base, headers=bearer(owner))).json()
            }
            await asyncio.sleep(2.5)  # past the debounce: the edit is recorded now
        phases = {p["number"]: p for p in (await client.get(base, headers=bearer(owner))).json()}
        assert phases[2]["status"] == "completed", phases[2]["stale_because"]
        assert phases[1]["status"] == "completed"
        assert phases[1]["updated_at"] == completed[1]["updated_at"]
