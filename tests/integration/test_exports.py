"""Exports end to end: request, progress in the meta document, download, expiry, a worker."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from pycrdt import Map

from collab.content import markdown_to_prosemirror, write_prosemirror
from collab.types import DocumentName, Origin
from server.documents import content_fragment
from tests.support import (
    Account,
    RunningServer,
    bearer,
    eventually,
    free_port,
    fresh_database,
    make_account,
    run_server,
    settings_for,
    ua_process,
)
from tests.yclient import yclient

MARKDOWN = """# Heading {n}

Intro with **bold**, *italic*, `code`, ~~strike~~ and a [link](https://example.com).

- first item {n}
- second item
  - nested

1. one
2. two

> a quote

```
code block {n}
```
"""


async def _project_with_content(
    server: RunningServer, client: httpx.AsyncClient
) -> tuple[Account, str]:
    owner = await make_account(client)
    pid = (
        await client.post("/api/projects", json={"name": "Export me"}, headers=bearer(owner))
    ).json()["id"]
    rooms = server.app.state.services.rooms
    for n in (1, 2, 3):
        room = await rooms.get(DocumentName(uuid.UUID(pid), n))
        content = markdown_to_prosemirror(MARKDOWN.format(n=n))
        room.server_change(
            lambda doc, c=content: write_prosemirror(content_fragment(doc), c, replace=True),
            Origin.SERVER,
        )
    return owner, pid


async def _wait_done(
    client: httpx.AsyncClient, account: Account, export_id: str, timeout: float = 60
) -> dict[str, Any]:
    result: dict[str, Any] = {}

    async def done() -> bool:
        nonlocal result
        result = (await client.get(f"/api/exports/{export_id}", headers=bearer(account))).json()
        return result["status"] in ("done", "failed")

    await eventually(done, timeout)
    assert result["status"] == "done", result
    return result


async def test_pdf_docx_json_round_trip(client: httpx.AsyncClient, server: RunningServer) -> None:
    owner, pid = await _project_with_content(server, client)
    async with yclient(server.ws_url, f"projects/{pid}/meta", owner.access_token) as meta:
        ids = {}
        for fmt in ("pdf", "docx", "json"):
            r = await client.post(
                f"/api/projects/{pid}/exports", json={"format": fmt}, headers=bearer(owner)
            )
            assert r.status_code == 202 and r.json()["status"] == "queued"
            ids[fmt] = r.json()["id"]
        exports_map = meta.doc.get("exports", type=Map)
        await meta.wait_until(
            lambda: all(exports_map.get(i, {}).get("status") == "done" for i in ids.values()),
            timeout=90,
        )
    files = {}
    for fmt, export_id in ids.items():
        info = await _wait_done(client, owner, export_id)
        assert info["progress"] == 100 and info["size"] > 0
        r = await client.get(info["download_url"], headers=bearer(owner))
        assert r.status_code == 200
        assert f".{fmt}" in r.headers["content-disposition"]
        files[fmt] = r
    assert files["pdf"].headers["content-type"] == "application/pdf"
    from pypdf import PdfReader

    text = "\n".join(
        page.extract_text() for page in PdfReader(io.BytesIO(files["pdf"].content)).pages
    )
    positions = [text.find(f"Heading {n}") for n in (1, 2, 3)]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)
    assert "first item 2" in text
    import docx

    document = docx.Document(io.BytesIO(files["docx"].content))
    headings = [
        p.text for p in document.paragraphs if p.style is not None and p.style.name == "Heading 1"
    ]
    assert len(headings) == 14
    assert any("first item 3" in p.text for p in document.paragraphs)
    data = json.loads(files["json"].content)
    from jsonschema import validate

    from server.exports.render import JSON_SCHEMA

    validate(data, JSON_SCHEMA)
    assert [p["number"] for p in data["phases"]] == list(range(1, 15))
    assert "Heading 1" in data["phases"][0]["markdown"]
    listed = (await client.get(f"/api/projects/{pid}/exports", headers=bearer(owner))).json()
    assert {e["id"] for e in listed} == set(ids.values())


async def test_permissions_and_bad_requests(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    owner, pid = await _project_with_content(server, client)
    r = await client.post(
        f"/api/projects/{pid}/exports",
        json={"format": "json", "phases": [2]},
        headers=bearer(owner),
    )
    export_id = r.json()["id"]
    info = await _wait_done(client, owner, export_id)
    stranger = await make_account(client)
    assert (
        await client.get(f"/api/exports/{export_id}", headers=bearer(stranger))
    ).status_code == 404
    assert (await client.get(info["download_url"], headers=bearer(stranger))).status_code == 404
    assert (await client.get(info["download_url"])).status_code == 401
    data = json.loads((await client.get(info["download_url"], headers=bearer(owner))).content)
    assert [p["number"] for p in data["phases"]] == [2]
    for body in (
        {"format": "odt"},
        {"format": "pdf", "phases": [0]},
        {"format": "pdf", "phases": []},
    ):
        assert (
            await client.post(f"/api/projects/{pid}/exports", json=body, headers=bearer(owner))
        ).status_code == 422
    r = await client.post(
        f"/api/projects/{pid}/exports", json={"format": "pdf"}, headers=bearer(stranger)
    )
    assert r.status_code == 404
    assert (
        await client.get(f"/api/exports/{uuid.uuid4()}", headers=bearer(owner))
    ).status_code == 404


async def test_expiry_deletes_file_and_download_is_gone(database: str, tmp_path: Path) -> None:
    settings = settings_for(database, tmp_path, export_ttl_s=1, export_sweep_s=0.2)
    async with run_server(settings) as srv, srv.client() as client:
        owner, pid = await _project_with_content(srv, client)
        r = await client.post(
            f"/api/projects/{pid}/exports", json={"format": "json"}, headers=bearer(owner)
        )
        info = await _wait_done(client, owner, r.json()["id"])
        files = list(settings.export_dir.iterdir())
        assert len(files) == 1

        async def expired() -> bool:
            got = (await client.get(f"/api/exports/{info['id']}", headers=bearer(owner))).json()
            return bool(got["status"] == "expired")

        await eventually(expired, 15)
        assert list(settings.export_dir.iterdir()) == []
        r = await client.get(f"/api/exports/{info['id']}/download", headers=bearer(owner))
        assert r.status_code == 410


async def test_abandoned_export_is_failed_not_stuck(database: str, tmp_path: Path) -> None:
    settings = settings_for(database, tmp_path, export_sweep_s=0.2, export_heartbeat_s=0.1)
    async with run_server(settings) as srv, srv.client() as client:
        owner, pid = await _project_with_content(srv, client)
        conn = await asyncpg.connect(database)
        try:
            export_id = await conn.fetchval(
                "INSERT INTO exports (project_id, format, status, heartbeat_at, started_at)"
                " VALUES ($1, 'pdf', 'running', now() - interval '1 hour', now()) RETURNING id",
                uuid.UUID(pid),
            )
        finally:
            await conn.close()

        async def failed() -> bool:
            got = (await client.get(f"/api/exports/{export_id}", headers=bearer(owner))).json()
            return bool(got["status"] == "failed" and "worker" in got["error"])

        await eventually(failed, 15)


async def test_worker_process_renders_exports(redis_url: str, tmp_path: Path) -> None:
    async with fresh_database() as dsn:
        port = free_port()
        env = {
            "DATABASE_URL": dsn,
            "REDIS_URL": redis_url,
            "REDIS_PREFIX": f"x{uuid.uuid4().hex[:8]}",
            "DATA_DIR": str(tmp_path),
            "EXPORT_DIR": str(tmp_path / "exports"),
        }
        async with ua_process(port, env, log=tmp_path / "serve.log"):
            worker = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "server.cli",
                "worker",
                env={**os.environ, "JWT_SECRET": "process-secret-" + "x" * 32, **env},
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                    owner = await make_account(client)
                    pid = (
                        await client.post(
                            "/api/projects", json={"name": "W"}, headers=bearer(owner)
                        )
                    ).json()["id"]
                    r = await client.post(
                        f"/api/projects/{pid}/exports",
                        json={"format": "docx"},
                        headers=bearer(owner),
                    )
                    info = await _wait_done(client, owner, r.json()["id"], timeout=90)
                    r = await client.get(info["download_url"], headers=bearer(owner))
                    assert r.status_code == 200 and r.content[:2] == b"PK"
            finally:
                worker.terminate()
                await worker.wait()
