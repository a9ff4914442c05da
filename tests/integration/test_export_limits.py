"""Export quotas: queued or running exports per user and per project; past them, 429.

The server sends its tasks to Redis and no `ua worker` takes them, so every accepted export
stays queued: what is counted is exactly what the test queued.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.support import (
    Account,
    RunningServer,
    add_member,
    bearer,
    eventually,
    make_account,
    run_server,
    settings_for,
)


@pytest.fixture(scope="module")
async def queued_only(
    database: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningServer]:
    settings = settings_for(
        database,
        tmp_path_factory.mktemp("export-limits"),
        redis_url=redis_url,
        redis_prefix=f"q{uuid.uuid4().hex[:8]}",
        tasks_in_process=False,
        export_max_pending_per_user=3,
        export_max_pending_per_project=4,
    )
    async with run_server(settings) as srv:
        yield srv


async def _export(client: httpx.AsyncClient, who: Account, pid: str) -> httpx.Response:
    return await client.post(
        f"/api/projects/{pid}/exports", json={"format": "pdf"}, headers=bearer(who)
    )


async def _project(client: httpx.AsyncClient) -> tuple[Account, str]:
    owner = await make_account(client)
    r = await client.post("/api/projects", json={"name": "Quota"}, headers=bearer(owner))
    return owner, r.json()["id"]


async def test_a_viewer_cannot_queue_exports_without_end(
    queued_only: RunningServer, database: str
) -> None:
    async with queued_only.client() as client:
        owner, pid = await _project(client)
        viewer = await add_member(client, owner, pid, "viewer")
        ids = []
        for _ in range(3):
            r = await _export(client, viewer, pid)
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
        r = await _export(client, viewer, pid)
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "rate_limited"
        assert "you have 3 exports" in r.json()["error"]["message"]
        assert int(r.headers["retry-after"]) >= 1

        # The project's limit (4) binds the owner once the viewer holds three.
        assert (await _export(client, owner, pid)).status_code == 202
        r = await _export(client, owner, pid)
        assert r.status_code == 429 and "this project has 4" in r.json()["error"]["message"]

        # Only queued and running exports count: a failed one frees its slot.
        conn = await asyncpg.connect(database)
        try:
            await conn.execute(
                "UPDATE exports SET status = 'failed', finished_at = now() WHERE id = $1",
                uuid.UUID(ids[0]),
            )
        finally:
            await conn.close()
        assert (await _export(client, viewer, pid)).status_code == 202


async def test_racing_requests_cannot_pass_the_count(queued_only: RunningServer) -> None:
    async with queued_only.client() as client:
        owner, pid = await _project(client)
        answers = await asyncio.gather(*(_export(client, owner, pid) for _ in range(8)))
        assert sorted(r.status_code for r in answers) == [202] * 3 + [429] * 5
        listed = (await client.get(f"/api/projects/{pid}/exports", headers=bearer(owner))).json()
        assert len(listed) == 3 and {e["status"] for e in listed} == {"queued"}


async def test_an_export_no_worker_takes_frees_its_slot(
    database: str, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(
        database,
        tmp_path,
        redis_url=redis_url,
        redis_prefix=f"q{uuid.uuid4().hex[:8]}",
        tasks_in_process=False,
        export_max_pending_per_user=1,
        export_queue_timeout_s=0.5,
        export_sweep_s=0.2,
    )
    async with run_server(settings) as srv, srv.client() as client:
        owner, pid = await _project(client)
        first = (await _export(client, owner, pid)).json()["id"]
        assert (await _export(client, owner, pid)).status_code == 429

        async def failed() -> bool:
            got = (await client.get(f"/api/exports/{first}", headers=bearer(owner))).json()
            return bool(got["status"] == "failed" and "no worker" in got["error"])

        await eventually(failed, 15)
        assert (await _export(client, owner, pid)).status_code == 202


def test_defaults(tmp_path: Path) -> None:
    settings = settings_for("postgresql://unused/db", tmp_path)
    assert settings.export_max_pending_per_user == 5
    assert settings.export_max_pending_per_project == 10
    assert settings.ai_max_active_per_user == 3
    assert settings.export_queue_timeout_s == 3600
