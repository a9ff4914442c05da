"""The y-websocket endpoint against the real server: sync, persistence and bad input."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from collab.protocol import ywire
from tests.support import (
    RunningServer,
    add_member,
    bearer,
    make_account,
    new_project,
    wait_unloaded,
)
from tests.yclient import yclient


async def test_edits_fan_out_and_read_back_over_rest(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    owner, pid = await new_project(client, "Live")
    doc = f"projects/{pid}/phases/1"
    async with yclient(server.ws_url, doc, owner.access_token) as a:
        async with yclient(server.ws_url, doc, owner.access_token) as b:
            await a.add_paragraph("Hello from A")
            await b.wait_until(lambda: b.paragraphs() == ["<paragraph>Hello from A</paragraph>"])
            await b.add_paragraph("And B")
            await a.wait_until(lambda: len(a.paragraphs()) == 2)
    r = await client.get(f"/api/projects/{pid}/phases/1", headers=bearer(owner))
    content = r.json()["content"]
    assert content["markdown"].split("\n\n")[:2] == ["Hello from A", "And B"]
    assert "<p>Hello from A</p>" in content["html"]
    assert content["prosemirror"]["type"] == "doc"


@pytest.mark.parametrize(
    ("document", "token_kind", "code"),
    [
        ("phases/1", "none", 4401),
        ("phases/1", "garbage", 4401),
        ("phases/99", "owner", 4404),
        ("nonsense", "owner", 4404),
        ("phases/1", "stranger", 4403),
    ],
)
async def test_refusals(
    client: httpx.AsyncClient, server: RunningServer, document: str, token_kind: str, code: int
) -> None:
    owner, pid = await new_project(client, "Live")
    tokens = {
        "none": None,
        "garbage": "not-a-jwt",
        "owner": owner.access_token,
        "stranger": (await make_account(client)).access_token,
    }
    name = f"projects/{pid}/{document}" if document != "nonsense" else "x/y"
    async with yclient(server.ws_url, name, tokens[token_kind], sync=False) as c:
        close_code, reason = await asyncio.wait_for(c.closed, 10)
    assert close_code == code
    assert reason


async def test_viewer_edits_are_dropped(client: httpx.AsyncClient, server: RunningServer) -> None:
    owner, pid = await new_project(client, "Live")
    viewer = await add_member(client, owner, pid, "viewer")
    doc = f"projects/{pid}/phases/2"
    async with yclient(server.ws_url, doc, owner.access_token) as editor:
        async with yclient(server.ws_url, doc, viewer.access_token) as v:
            await v.add_paragraph("viewer was here")
            await editor.add_paragraph("editor text")
            await v.wait_until(lambda: "editor text" in "".join(v.paragraphs()))
        assert editor.paragraphs() == ["<paragraph>editor text</paragraph>"]
    async with yclient(server.ws_url, doc, owner.access_token) as late:
        assert late.paragraphs() == ["<paragraph>editor text</paragraph>"]


async def test_meta_is_read_only(client: httpx.AsyncClient, server: RunningServer) -> None:
    owner, pid = await new_project(client, "Live")
    async with yclient(server.ws_url, f"projects/{pid}/meta", owner.access_token) as m:
        await m.add_paragraph("nope")
    async with yclient(server.ws_url, f"projects/{pid}/meta", owner.access_token) as m:
        assert m.paragraphs() == []


async def _drain(ws: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(10):
            async for _ in ws:
                pass


async def _raw(server: RunningServer, doc: str, token: str, frame: bytes) -> tuple[int, str]:
    async with connect(f"{server.ws_url}/yjs/{doc}?token={token}", max_size=None) as ws:
        # The server may close (1009) while a big frame is still being sent.
        with contextlib.suppress(ConnectionClosed, ConnectionResetError):
            await ws.send(frame)
        await _drain(ws)
        return ws.close_code or 1006, ws.close_reason or ""


async def test_bad_input_closes_only_that_connection(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    owner, pid = await new_project(client, "Live")
    doc = f"projects/{pid}/phases/3"
    async with yclient(server.ws_url, doc, owner.access_token) as good:
        await good.add_paragraph("keep me")
        token = owner.access_token
        assert (await _raw(server, doc, token, b"\x00\x07\xff"))[0] == 1002  # malformed
        assert (await _raw(server, doc, token, ywire.encode(ywire.Update(b"\x05garbage"))))[
            0
        ] == 1002
        assert (await _raw(server, doc, token, b"\x09"))[0] == 1002  # unknown message type
        big = ywire.encode(ywire.Update(b"\x00" * (server.settings.ws_max_message_bytes + 1)))
        assert (await _raw(server, doc, token, big))[0] == 1009
        async with connect(f"{server.ws_url}/yjs/{doc}?token={token}") as ws:
            await ws.send("text frame")
            await _drain(ws)
            assert ws.close_code == 1002
        await good.add_paragraph("still serving")
        await good.wait_until(lambda: len(good.paragraphs()) == 2)
    async with yclient(server.ws_url, doc, owner.access_token) as check:
        assert check.paragraphs() == [
            "<paragraph>keep me</paragraph>",
            "<paragraph>still serving</paragraph>",
        ]


async def test_flood_is_rate_limited(client: httpx.AsyncClient, server: RunningServer) -> None:
    owner, pid = await new_project(client, "Live")
    doc = f"projects/{pid}/phases/4"
    query = ywire.encode(ywire.QueryAwareness())
    async with connect(f"{server.ws_url}/yjs/{doc}?token={owner.access_token}") as ws:
        for _ in range(server.settings.ws_rate_limit_per_s * 3):
            try:
                await ws.send(query)
            except ConnectionClosed:
                break
        await _drain(ws)
        assert ws.close_code == 4429


async def test_rooms_unload_when_everyone_leaves(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    owner, pid = await new_project(client, "Live")
    rooms = server.app.state.services.rooms
    names = [f"projects/{pid}/phases/{n}" for n in (5, 6)]
    for n, name in zip((5, 6), names, strict=True):
        async with yclient(server.ws_url, name, owner.access_token) as c:
            await c.add_paragraph(f"phase {n}")
            assert rooms.loaded(name) is not None
    await wait_unloaded(server, *names)
    async with yclient(server.ws_url, names[0], owner.access_token) as c:
        assert c.paragraphs() == ["<paragraph>phase 5</paragraph>"]


async def test_a_pure_deletion_is_relayed_and_stored(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    owner, pid = await new_project(client, "Live")
    doc = f"projects/{pid}/phases/13"
    async with yclient(server.ws_url, doc, owner.access_token) as a:
        async with yclient(server.ws_url, doc, owner.access_token) as b:
            await a.add_paragraph("to be deleted")
            await a.add_paragraph("to keep")
            await b.wait_until(lambda: len(b.paragraphs()) == 2)
            before = a.doc.get_state()
            del a.content.children[0]
            update = a.doc.get_update(before)
            assert a.doc.get_state() == before  # a deletion leaves the state vector as it was
            await a.send(ywire.Update(update))
            await b.wait_until(lambda: b.paragraphs() == ["<paragraph>to keep</paragraph>"])
    await wait_unloaded(server, doc)
    async with yclient(server.ws_url, doc, owner.access_token) as late:
        assert late.paragraphs() == ["<paragraph>to keep</paragraph>"]


async def test_metrics_count_connections_updates_and_closes(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    owner, pid = await new_project(client, "Live")
    doc = f"projects/{pid}/phases/14"
    async with yclient(server.ws_url, doc, owner.access_token) as a:
        await a.add_paragraph("counted")
        text = (await client.get("/metrics")).text
        assert 'ua_ws_connections{protocol="yjs"}' in text
        await _raw(server, doc, owner.access_token, b"\x00\x07\xff")

    def value(text: str, name: str) -> float:
        line = next(line for line in text.splitlines() if line.startswith(name))
        return float(line.rsplit(" ", 1)[1])

    async with asyncio.timeout(10):
        while True:
            text = (await client.get("/metrics")).text
            if value(text, "ua_updates_total") >= 1:
                break
            await asyncio.sleep(0.05)
    assert value(text, 'ua_ws_closes_total{code="1002"}') >= 1
    assert value(text, "ua_persistence_lag_seconds_count") >= 1
    assert "ua_rooms_loaded" in text
