"""The audit log: each action writes its entry; admins read everything, owners their project."""

from __future__ import annotations

from typing import Any

import httpx

from tests.accounts import make_admin
from tests.support import Account, RunningServer, add_member, bearer, make_account, new_project

Entry = dict[str, Any]


async def _project_log(
    client: httpx.AsyncClient, who: Account, pid: str, **params: Any
) -> list[Entry]:
    r = await client.get(f"/api/projects/{pid}/audit", params=params, headers=bearer(who))
    assert r.status_code == 200, r.text
    entries: list[Entry] = r.json()["entries"]
    return entries


async def _admin_page(client: httpx.AsyncClient, admin: Account, **params: Any) -> dict[str, Any]:
    r = await client.get("/api/admin/audit", params=params, headers=bearer(admin))
    assert r.status_code == 200, r.text
    page: dict[str, Any] = r.json()
    return page


def _one(entries: list[Entry], action: str, **where: Any) -> Entry:
    found = [
        e for e in entries if e["action"] == action and all(e[k] == v for k, v in where.items())
    ]
    assert len(found) == 1, (action, where, entries)
    return found[0]


async def test_project_actions_write_their_entries(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    owner, pid = await new_project(client, "Audited")
    editor = await add_member(client, owner, pid, "editor")
    leaver = await add_member(client, owner, pid, "viewer")
    members = f"/api/projects/{pid}/members"
    r = await client.patch(f"{members}/{editor.id}", json={"role": "viewer"}, headers=bearer(owner))
    assert r.status_code == 204, r.text
    # The same role again changes nothing, and a refused change is rolled back with its entry.
    await client.patch(f"{members}/{editor.id}", json={"role": "viewer"}, headers=bearer(owner))
    r = await client.patch(f"{members}/{owner.id}", json={"role": "editor"}, headers=bearer(owner))
    assert r.status_code == 409
    assert (await client.delete(f"{members}/{editor.id}", headers=bearer(owner))).status_code == 204
    assert (
        await client.delete(f"{members}/{leaver.id}", headers=bearer(leaver))
    ).status_code == 204

    log = await _project_log(client, owner, pid)
    assert [e["action"] for e in log] == [
        "member.removed",
        "member.removed",
        "member.role_changed",
        "invitation.accepted",
        "invitation.created",
        "invitation.accepted",
        "invitation.created",
        "project.created",
    ]
    assert {e["target_project"] for e in log} == {pid}
    created = _one(log, "project.created")
    assert created["actor"] == owner.id and created["actor_email"] == owner.email
    assert created["details"] == {"name": "Audited"}
    invitations = [e for e in log if e["action"] == "invitation.created"]
    assert {e["actor"] for e in invitations} == {owner.id}
    assert {(e["details"]["email"], e["details"]["role"]) for e in invitations} == {
        (editor.email, "editor"),
        (leaver.email, "viewer"),
    }
    accepted = _one(log, "invitation.accepted", target_user=editor.id)
    assert accepted["actor"] == editor.id and accepted["details"]["role"] == "editor"
    changed = _one(log, "member.role_changed", target_user=editor.id)
    assert changed["actor"] == owner.id
    assert changed["details"] == {"from": "editor", "to": "viewer"}
    removed = _one(log, "member.removed", target_user=editor.id)
    assert removed["actor"] == owner.id and removed["details"] == {"role": "viewer"}
    left = _one(log, "member.removed", target_user=leaver.id)
    assert left["actor"] == leaver.id

    assert (await client.delete(f"/api/projects/{pid}", headers=bearer(owner))).status_code == 204
    admin = await make_admin(server, client)
    page = await _admin_page(client, admin, target=pid)
    deleted = page["entries"][0]
    assert deleted["action"] == "project.deleted" and deleted["actor"] == owner.id
    assert deleted["target_project"] == pid and deleted["details"] == {"name": "Audited"}
    assert [e["id"] for e in page["entries"][1:]] == [e["id"] for e in log]


async def test_admin_filters_and_pages(server: RunningServer, client: httpx.AsyncClient) -> None:
    admin = await make_admin(server, client)
    owner, pid = await new_project(client)
    member = await add_member(client, owner, pid, "editor")
    for role in ("viewer", "editor", "viewer"):
        r = await client.patch(
            f"/api/projects/{pid}/members/{member.id}", json={"role": role}, headers=bearer(owner)
        )
        assert r.status_code == 204, r.text
    everything = (await _admin_page(client, admin, target=pid, limit=200))["entries"]
    assert len(everything) == 6
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)

    by_member = (await _admin_page(client, admin, actor=member.id))["entries"]
    assert [e["action"] for e in by_member] == ["invitation.accepted"]
    about_member = (await _admin_page(client, admin, target=member.id))["entries"]
    actions = [e["action"] for e in about_member]
    assert actions == [*["member.role_changed"] * 3, "invitation.accepted"]
    both = (await _admin_page(client, admin, actor=owner.id, target=member.id))["entries"]
    assert len(both) == 3 and {e["actor_email"] for e in both} == {owner.email}

    cut = everything[2]["at"]
    since = (await _admin_page(client, admin, target=pid, since=cut))["entries"]
    assert [e["id"] for e in since] == [e["id"] for e in everything if e["at"] >= cut]
    assert everything[-1] not in since

    pages: list[Entry] = []
    params: dict[str, Any] = {"target": pid, "limit": 4}
    while True:
        page = await _admin_page(client, admin, **params)
        pages += page["entries"]
        if page["next"] is None:
            break
        assert len(page["entries"]) == 4
        params["before"] = page["next"]
    assert pages == everything
    exact = await _admin_page(client, admin, target=pid, limit=6)
    assert exact["next"] is None and exact["entries"] == everything

    for bad in ({"limit": 201}, {"limit": 0}, {"since": "yesterday"}, {"before": 0}):
        r = await client.get("/api/admin/audit", params=bad, headers=bearer(admin))
        assert r.status_code == 422, (bad, r.text)
    r = await client.get(
        "/api/admin/audit", params={"since": "0001-01-01T00:00:00+14:00"}, headers=bearer(admin)
    )
    assert r.status_code == 422


async def test_project_log_is_for_its_owners(client: httpx.AsyncClient) -> None:
    owner, pid = await new_project(client)
    _, other = await new_project(client)
    editor = await add_member(client, owner, pid, "editor")
    viewer = await add_member(client, owner, pid, "viewer")
    stranger = await make_account(client)
    log = await _project_log(client, owner, pid)
    assert len(log) == 5 and {e["target_project"] for e in log} == {pid}

    url = f"/api/projects/{pid}/audit"
    assert (await client.get(url, headers=bearer(editor))).status_code == 403
    assert (await client.get(url, headers=bearer(viewer))).status_code == 403
    # As every project route: a stranger can't tell the project exists.
    assert (await client.get(url, headers=bearer(stranger))).status_code == 404
    assert (await client.get(url)).status_code == 401
    r = await client.get(f"/api/projects/{other}/audit", headers=bearer(owner))
    assert r.status_code == 404

    newest = await _project_log(client, owner, pid, limit=2)
    assert newest == log[:2]
    rest = await _project_log(client, owner, pid, before=log[1]["id"])
    assert rest == log[2:]


async def test_admin_log_is_for_admins(client: httpx.AsyncClient) -> None:
    owner, _ = await new_project(client)
    assert (await client.get("/api/admin/audit")).status_code == 401
    r = await client.get("/api/admin/audit", headers=bearer(owner))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


async def test_account_actions_write_their_entries(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    """The account routes are written elsewhere; their entries must be here all the same."""
    admin = await make_admin(server, client)
    disabled, promoted, user = [await make_account(client) for _ in range(3)]
    r = await client.post(f"/api/admin/users/{disabled.id}/disable", headers=bearer(admin))
    assert r.status_code in (200, 204), r.text
    r = await client.put(
        f"/api/admin/users/{promoted.id}/role", json={"role": "admin"}, headers=bearer(admin)
    )
    assert r.status_code in (200, 204), r.text
    new_password = user.password + "-2"
    r = await client.post(
        "/api/account/password",
        json={"current_password": user.password, "new_password": new_password},
        headers=bearer(user),
    )
    assert r.status_code in (200, 204), r.text
    r = await client.post("/api/auth/login", json={"email": user.email, "password": new_password})
    assert r.status_code == 200, r.text
    user.access_token = r.json()["access_token"]
    r = await client.request(
        "DELETE", "/api/account", json={"password": new_password}, headers=bearer(user)
    )
    assert r.status_code in (200, 204), r.text

    about = (await _admin_page(client, admin, target=disabled.id))["entries"]
    _one(about, "account.disabled", actor=admin.id, actor_email=admin.email)
    about = (await _admin_page(client, admin, target=promoted.id))["entries"]
    role = _one(about, "account.role_changed", actor=admin.id)
    assert (role["details"]["from"], role["details"]["to"]) == ("user", "admin")
    about = (await _admin_page(client, admin, target=user.id))["entries"]
    # The user's own account is gone: the entries keep its id, not its email.
    _one(about, "account.password_changed", actor=user.id, actor_email=None)
    _one(about, "account.deleted", target_user=user.id)
