"""The Hocuspocus endpoint with raw frames: auth, scopes, acknowledgements after commit."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import httpx

from collab.protocol import hocuspocus as hp
from tests.hclient import hclient
from tests.support import (
    RunningServer,
    add_member,
    bearer,
    make_account,
    new_project,
    run_server,
    settings_for,
)


async def test_auth_scopes_and_denials(client: httpx.AsyncClient, server: RunningServer) -> None:
    owner, pid = await new_project(client, "Hp")
    viewer = await add_member(client, owner, pid, "viewer")
    stranger = await make_account(client)
    async with hclient(server.ws_url) as c:
        assert (await c.open(f"projects/{pid}/phases/1", owner.access_token)).scope == "read-write"
        assert (await c.open(f"projects/{pid}/meta", owner.access_token)).scope == "readonly"
        assert (await c.open(f"projects/{pid}/phases/2", viewer.access_token)).scope == "readonly"
        assert (await c.open(f"projects/{pid}/phases/3", "bad-token")).denied
        assert (await c.open(f"projects/{pid}/phases/4", stranger.access_token)).denied
        assert (await c.open(f"projects/{pid}/phases/15", owner.access_token)).denied
        # The socket still serves the documents that were granted.
        await c.add_paragraph(f"projects/{pid}/phases/1", "still here")
        doc = c.docs[f"projects/{pid}/phases/1"]
        await c.wait_until(lambda: doc.saved >= 1)
        await c.add_paragraph(f"projects/{pid}/phases/2", "viewer edit")
        viewer_doc = c.docs[f"projects/{pid}/phases/2"]
        await c.wait_until(lambda: viewer_doc.unsaved == 1)


async def test_saved_means_committed(client: httpx.AsyncClient, server: RunningServer) -> None:
    owner, pid = await new_project(client, "Hp")
    name = f"projects/{pid}/phases/7"
    conn = await asyncpg.connect(server.settings.database_url)
    try:
        async with hclient(server.ws_url) as c:
            doc = await c.open(name, owner.access_token)
            await c.wait_until(lambda: doc.saved == 1)  # our SyncStep2 reply, empty
            for i in range(20):
                await c.add_paragraph(name, f"p{i}")
                await c.wait_until(lambda i=i: doc.saved >= i + 2)
                # The acknowledgement came: the update must already be in the log.
                rows = await conn.fetchval(
                    "SELECT count(*) FROM document_updates WHERE document = $1", name
                )
                assert rows >= i + 1
    finally:
        await conn.close()


async def test_two_documents_share_one_socket(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    owner, pid = await new_project(client, "Hp")
    a, b = f"projects/{pid}/phases/8", f"projects/{pid}/phases/9"
    async with hclient(server.ws_url) as writer, hclient(server.ws_url) as reader:
        for name in (a, b):
            await writer.open(name, owner.access_token)
            await reader.open(name, owner.access_token)
        await writer.add_paragraph(a, "in A")
        await writer.add_paragraph(b, "in B")
        await reader.wait_until(
            lambda: (
                reader.docs[a].paragraphs() == ["<paragraph>in A</paragraph>"]
                and reader.docs[b].paragraphs() == ["<paragraph>in B</paragraph>"]
            )
        )


async def test_unauthenticated_socket_times_out(database: str, tmp_path: Path) -> None:
    settings = settings_for(
        database, tmp_path, ws_auth_timeout_s=0.3, ws_max_documents_per_socket=2
    )
    async with run_server(settings) as srv, hclient(srv.ws_url) as c:
        await c.wait_until(lambda: c.close_code is not None)
        assert c.close_code == 4408


async def test_too_many_documents(database: str, tmp_path: Path) -> None:
    settings = settings_for(database, tmp_path, ws_max_documents_per_socket=2)
    async with run_server(settings) as srv:
        async with srv.client() as http:
            owner, pid = await new_project(http, "Hp")
        async with hclient(srv.ws_url) as c:
            for n in (1, 2):
                await c.open(f"projects/{pid}/phases/{n}", owner.access_token)
            await c.send(f"projects/{pid}/phases/3", hp.AuthToken(owner.access_token))
            await c.wait_until(lambda: c.close_code is not None)
            assert c.close_code == 4429


async def test_demotion_to_viewer_rescopes_open_documents(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    owner, pid = await new_project(client, "Hp")
    editor = await add_member(client, owner, pid, "editor")
    name = f"projects/{pid}/phases/12"
    async with hclient(server.ws_url) as c:
        doc = await c.open(name, editor.access_token)
        assert doc.scope == "read-write"
        r = await client.patch(
            f"/api/projects/{pid}/members/{editor.id}",
            json={"role": "viewer"},
            headers=bearer(owner),
        )
        assert r.status_code == 204
        await c.wait_until(lambda: doc.scope == "readonly")
        await c.add_paragraph(name, "after demotion")
        await c.wait_until(lambda: doc.unsaved == 1)
