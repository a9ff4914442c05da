"""Statuses, cascades, the meta document and versions, against the real server."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from pycrdt import Map

from tests.support import (
    Account,
    RunningServer,
    add_member,
    bearer,
    eventually,
    new_project,
)
from tests.yclient import yclient


async def _statuses(client: httpx.AsyncClient, owner: Account, pid: str) -> dict[int, str]:
    r = await client.get(f"/api/projects/{pid}/phases", headers=bearer(owner))
    return {p["number"]: p["status"] for p in r.json()}


async def _post(client: httpx.AsyncClient, owner: Account, path: str, **kw: Any) -> httpx.Response:
    return await client.post(path, headers=bearer(owner), **kw)


async def test_edit_cascades_staleness_and_meta_shows_it(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    owner, pid = await new_project(client, "Flow")
    base = f"/api/projects/{pid}/phases"
    for n in (2, 5, 13, 14):  # 2 and 14 depend on 1 directly; 5 and 13 through 2
        assert (await _post(client, owner, f"{base}/{n}/complete")).status_code == 200
    assert (await _post(client, owner, f"{base}/4/complete")).status_code == 200  # 4 ← 3 ← 1

    async with yclient(server.ws_url, f"projects/{pid}/meta", owner.access_token) as meta:
        phases = meta.doc.get("phases", type=Map)
        await meta.wait_until(lambda: phases.get("2", {}).get("status") == "completed")
        async with yclient(server.ws_url, f"projects/{pid}/phases/1", owner.access_token) as c:
            await c.add_paragraph("the vision changes")

        async def cascaded() -> bool:
            s = await _statuses(client, owner, pid)
            return s[1] == "in_progress" and s[14] == "stale"

        await eventually(cascaded)
        statuses = await _statuses(client, owner, pid)
        assert {n: statuses[n] for n in (2, 4, 5, 13, 14)} == dict.fromkeys(
            (2, 4, 5, 13, 14), "stale"
        )
        assert statuses[3] == "not_started"  # not completed: nothing to make stale
        await meta.wait_until(lambda: phases.get("14", {}).get("status") == "stale")
        assert "phase 1" in phases["14"]["stale_because"]

    r = await _post(client, owner, f"{base}/5/complete")
    assert r.json()["status"] == "completed" and r.json()["stale_because"] is None
    r = await _post(client, owner, f"{base}/5/reopen")
    assert r.json()["status"] == "in_progress"
    r = await _post(client, owner, f"{base}/3/reopen")
    assert r.status_code == 409


async def test_versions_and_live_restore(client: httpx.AsyncClient, server: RunningServer) -> None:
    owner, pid = await new_project(client, "Flow")
    base = f"/api/projects/{pid}/phases/6"
    doc = f"projects/{pid}/phases/6"
    async with yclient(server.ws_url, doc, owner.access_token) as a:
        async with yclient(server.ws_url, doc, owner.access_token) as b:
            await a.add_paragraph("first draft")
            await b.wait_until(lambda: len(b.paragraphs()) == 1)
            v1 = (await _post(client, owner, f"{base}/versions", json={"label": "draft 1"})).json()
            await b.add_paragraph("second thoughts")
            await a.wait_until(lambda: len(a.paragraphs()) == 2)
            v2 = (await _post(client, owner, f"{base}/versions", json={"label": "draft 2"})).json()

            r = await _post(client, owner, f"{base}/versions/{v1['id']}/restore")
            assert r.status_code == 200 and r.json()["source"] == "restore"
            for c in (a, b):
                await c.wait_until(
                    lambda c=c: c.paragraphs() == ["<paragraph>first draft</paragraph>"]
                )
            assert a.doc.get_state() == b.doc.get_state()

    listed = (await client.get(f"{base}/versions", headers=bearer(owner))).json()
    assert [v["source"] for v in listed][:1] == ["restore"] and len(listed) == 3
    detail = (await client.get(f"{base}/versions/{v2['id']}", headers=bearer(owner))).json()
    assert detail["markdown"].strip() == "first draft\n\nsecond thoughts"
    assert "<p>second thoughts</p>" in detail["html"]
    diff = await client.get(f"{base}/versions/{v1['id']}/diff/{v2['id']}", headers=bearer(owner))
    assert diff.status_code == 200 and "+second thoughts" in diff.text


async def test_version_permissions_and_bad_input(client: httpx.AsyncClient) -> None:
    owner, pid = await new_project(client, "Flow")
    viewer = await add_member(client, owner, pid, "viewer")
    base = f"/api/projects/{pid}/phases/2/versions"
    v = (await _post(client, owner, base, json={"label": "v"})).json()
    assert (await client.get(base, headers=bearer(viewer))).status_code == 200
    assert (await _post(client, viewer, base, json={"label": "x"})).status_code == 403
    assert (await _post(client, viewer, f"{base}/{v['id']}/restore")).status_code == 403
    assert (
        await _post(client, viewer, f"/api/projects/{pid}/phases/2/complete")
    ).status_code == 403
    assert (await client.get(f"{base}/{uuid.uuid4()}", headers=bearer(owner))).status_code == 404
    for n in (0, 15):
        r = await client.get(f"/api/projects/{pid}/phases/{n}/versions", headers=bearer(owner))
        assert r.status_code == 404
    # A version of another project (or another phase) cannot be restored here.
    _, other = await new_project(client, "Flow")
    r = await _post(client, owner, f"/api/projects/{pid}/phases/3/versions/{v['id']}/restore")
    assert r.status_code == 404
    r = await _post(client, owner, f"/api/projects/{other}/phases/2/versions/{v['id']}/restore")
    assert r.status_code == 404
    assert (await _post(client, owner, base, json={"label": ""})).status_code == 422
