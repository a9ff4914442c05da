from __future__ import annotations

import uuid

import asyncpg
import httpx

from tests.support import RunningServer, bearer, make_account


async def _project(client: httpx.AsyncClient, owner_headers: dict[str, str]) -> str:
    r = await client.post("/api/projects", json={"name": "Plan"}, headers=owner_headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _invite(
    client: httpx.AsyncClient, headers: dict[str, str], pid: str, email: str, role: str
) -> str:
    r = await client.post(
        f"/api/projects/{pid}/invitations", json={"email": email, "role": role}, headers=headers
    )
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


async def test_full_journey(client: httpx.AsyncClient) -> None:
    owner = await make_account(client)
    pid = await _project(client, bearer(owner))
    r = await client.get(f"/api/projects/{pid}/phases", headers=bearer(owner))
    phases = r.json()
    assert [p["number"] for p in phases] == list(range(1, 15))
    assert {p["status"] for p in phases} == {"not_started"}
    assert phases[13]["depends_on"]
    one = await client.get(f"/api/projects/{pid}/phases/3", headers=bearer(owner))
    assert one.json()["key"] == phases[2]["key"]

    guest = await make_account(client)
    token = await _invite(client, bearer(owner), pid, guest.email.upper(), "editor")
    r = await client.post(f"/api/invitations/{token}/accept", headers=bearer(guest))
    assert r.status_code == 200 and r.json()["role"] == "editor"
    listed = await client.get("/api/projects", headers=bearer(guest))
    assert [p["id"] for p in listed.json()] == [pid]
    members = await client.get(f"/api/projects/{pid}/members", headers=bearer(guest))
    assert {m["role"] for m in members.json()} == {"owner", "editor"}
    again = await client.post(f"/api/invitations/{token}/accept", headers=bearer(guest))
    assert again.status_code == 410


async def test_roles_and_strangers(client: httpx.AsyncClient) -> None:
    owner, viewer, stranger = [await make_account(client) for _ in range(3)]
    pid = await _project(client, bearer(owner))
    token = await _invite(client, bearer(owner), pid, viewer.email, "viewer")
    assert (
        await client.post(f"/api/invitations/{token}/accept", headers=bearer(viewer))
    ).status_code == 200

    assert (await client.get(f"/api/projects/{pid}", headers=bearer(stranger))).status_code == 404
    assert (
        await client.get(f"/api/projects/{pid}/phases", headers=bearer(stranger))
    ).status_code == 404
    r = await client.patch(f"/api/projects/{pid}", json={"name": "x"}, headers=bearer(viewer))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert (await client.delete(f"/api/projects/{pid}", headers=bearer(viewer))).status_code == 403
    r = await client.post(
        f"/api/projects/{pid}/invitations", json={"email": "z@example.com"}, headers=bearer(viewer)
    )
    assert r.status_code == 403
    r = await client.patch(f"/api/projects/{pid}", json={"name": "Renamed"}, headers=bearer(owner))
    assert r.json()["name"] == "Renamed"
    assert (await client.delete(f"/api/projects/{pid}", headers=bearer(owner))).status_code == 204
    assert (await client.get(f"/api/projects/{pid}", headers=bearer(owner))).status_code == 404


async def test_members_roles_and_last_owner(client: httpx.AsyncClient) -> None:
    owner, other = await make_account(client), await make_account(client)
    pid = await _project(client, bearer(owner))
    token = await _invite(client, bearer(owner), pid, other.email, "editor")
    await client.post(f"/api/invitations/{token}/accept", headers=bearer(other))
    r = await client.delete(f"/api/projects/{pid}/members/{owner.id}", headers=bearer(owner))
    assert r.status_code == 409  # the last owner can't leave
    r = await client.patch(
        f"/api/projects/{pid}/members/{other.id}", json={"role": "owner"}, headers=bearer(other)
    )
    assert r.status_code == 403
    r = await client.patch(
        f"/api/projects/{pid}/members/{other.id}", json={"role": "owner"}, headers=bearer(owner)
    )
    assert r.status_code == 204
    r = await client.delete(f"/api/projects/{pid}/members/{owner.id}", headers=bearer(owner))
    assert r.status_code == 204
    assert (await client.get(f"/api/projects/{pid}", headers=bearer(owner))).status_code == 404
    r = await client.patch(
        f"/api/projects/{pid}/members/{uuid.uuid4()}",
        json={"role": "viewer"},
        headers=bearer(other),
    )
    assert r.status_code == 404
    r = await client.patch(
        f"/api/projects/{pid}/members/{other.id}", json={"role": "boss"}, headers=bearer(other)
    )
    assert r.status_code == 422


async def test_invitation_rules(client: httpx.AsyncClient, server: RunningServer) -> None:
    owner, invitee, someone = [await make_account(client) for _ in range(3)]
    pid = await _project(client, bearer(owner))
    token = await _invite(client, bearer(owner), pid, invitee.email, "viewer")
    r = await client.post(f"/api/invitations/{token}/accept", headers=bearer(someone))
    assert r.status_code == 403  # another email
    r = await client.post("/api/invitations/not-a-token/accept", headers=bearer(invitee))
    assert r.status_code == 404
    expired = await _invite(client, bearer(owner), pid, invitee.email, "viewer")
    conn = await asyncpg.connect(server.settings.database_url)
    try:
        await conn.execute(
            "UPDATE invitations SET expires_at = now() - interval '1 minute' WHERE project_id = $1",
            uuid.UUID(pid),
        )
    finally:
        await conn.close()
    r = await client.post(f"/api/invitations/{expired}/accept", headers=bearer(invitee))
    assert r.status_code == 410 and "expired" in r.json()["error"]["message"]


async def test_phase_out_of_range(client: httpx.AsyncClient) -> None:
    owner = await make_account(client)
    pid = await _project(client, bearer(owner))
    for n in (0, 15):
        assert (
            await client.get(f"/api/projects/{pid}/phases/{n}", headers=bearer(owner))
        ).status_code == 404
