"""Self-service accounts against the real server: profile, password, sessions, deletion, and
the registration policy."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import httpx

from tests.support import (
    Account,
    RunningServer,
    add_member,
    bearer,
    make_account,
    new_project,
    run_server,
    settings_for,
)
from tests.yclient import yclient


async def _sql(server: RunningServer, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(server.settings.database_url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/auth/refresh", json={"refresh_token": token})


async def _login(client: httpx.AsyncClient, account: Account, **headers: str) -> dict[str, str]:
    r = await client.post(
        "/api/auth/login",
        json={"email": account.email, "password": account.password},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    tokens: dict[str, str] = r.json()
    return tokens


async def _delete(client: httpx.AsyncClient, account: Account, **body: object) -> httpx.Response:
    return await client.request("DELETE", "/api/account", json=body, headers=bearer(account))


async def test_display_name_change(client: httpx.AsyncClient) -> None:
    account = await make_account(client)
    r = await client.patch("/api/account", json={"display_name": "Ada L."}, headers=bearer(account))
    assert r.status_code == 200, r.text
    assert r.json()["display_name"] == "Ada L."
    r = await client.get("/api/auth/me", headers=bearer(account))
    assert r.json()["display_name"] == "Ada L."
    r = await client.patch("/api/account", json={"display_name": ""}, headers=bearer(account))
    assert r.status_code == 422
    assert (await client.patch("/api/account", json={"display_name": "x"})).status_code == 401


async def test_password_change_signs_out_every_other_session(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    account = await make_account(client)  # session 1: account.refresh_token
    other = await _login(client, account)  # session 2
    families = {s["id"] for s in (await _sessions(client, account))}
    assert len(families) == 2
    new_password = f"N3w-{uuid.uuid4().hex[:12]}"
    r = await client.post(
        "/api/account/password",
        json={
            "current_password": account.password,
            "new_password": new_password,
            "refresh_token": account.refresh_token,
        },
        headers=bearer(account),
    )
    assert r.status_code == 200, r.text
    pair = r.json()
    assert (await _refresh(client, other["refresh_token"])).status_code == 401
    assert (await _refresh(client, account.refresh_token)).status_code == 401
    # The returned pair works and continues session 1: one session is left, the same one.
    r = await client.get(
        "/api/auth/me", headers={"authorization": f"Bearer {pair['access_token']}"}
    )
    assert r.status_code == 200
    assert (await _refresh(client, pair["refresh_token"])).status_code == 200
    sessions = await _sessions(client, account)
    assert len(sessions) == 1
    assert sessions[0]["id"] in families
    login = {"email": account.email, "password": account.password}
    assert (await client.post("/api/auth/login", json=login)).status_code == 401
    login["password"] = new_password
    assert (await client.post("/api/auth/login", json=login)).status_code == 200
    rows = await _sql(
        server,
        "SELECT actor FROM audit_log WHERE action = 'account.password_changed' AND target_user = $1",
        uuid.UUID(account.id),
    )
    assert [r["actor"] for r in rows] == [uuid.UUID(account.id)]


async def test_password_change_without_a_token_starts_a_new_session(
    client: httpx.AsyncClient,
) -> None:
    account = await make_account(client)
    before = {s["id"] for s in await _sessions(client, account)}
    r = await client.post(
        "/api/account/password",
        json={"current_password": account.password, "new_password": f"N3w-{uuid.uuid4().hex}"},
        headers=bearer(account),
    )
    assert r.status_code == 200, r.text
    after = {s["id"] for s in await _sessions(client, account)}
    assert len(after) == 1
    assert not after & before


async def test_wrong_current_password_or_weak_new_one_is_refused(
    client: httpx.AsyncClient,
) -> None:
    account = await make_account(client)
    body = {"current_password": "not-the-password", "new_password": f"N3w-{uuid.uuid4().hex}"}
    r = await client.post("/api/account/password", json=body, headers=bearer(account))
    assert r.status_code == 403
    body = {"current_password": account.password, "new_password": "short"}
    r = await client.post("/api/account/password", json=body, headers=bearer(account))
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "new_password"
    # Nothing changed: the old password and the session still work.
    assert (await _refresh(client, account.refresh_token)).status_code == 200
    await _login(client, account)


async def test_password_attempts_are_rate_limited(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    account = await make_account(client)
    body = {"current_password": "wrong-wrong", "new_password": f"N3w-{uuid.uuid4().hex}"}
    codes = [
        (await client.post("/api/account/password", json=body, headers=bearer(account))).status_code
        for _ in range(server.settings.login_rate_limit + 1)
    ]
    assert codes[:-1] == [403] * server.settings.login_rate_limit
    assert codes[-1] == 429


async def test_last_owner_must_transfer_before_deleting(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    owner, pid = await new_project(client, "Sole-owned")
    editor = await add_member(client, owner, pid, "editor")
    r = await _delete(client, owner, password=owner.password)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["details"] == [{"id": pid, "name": "Sole-owned"}]
    assert (await _delete(client, owner, password="wrong-password")).status_code == 403
    r = await _delete(client, owner, password=owner.password, transfer_to=str(uuid.uuid4()))
    assert r.status_code == 404
    assert (await client.get("/api/auth/me", headers=bearer(owner))).status_code == 200

    doc = f"projects/{pid}/phases/1"
    async with yclient(server.ws_url, doc, owner.access_token) as live:
        r = await _delete(client, owner, password=owner.password, transfer_to=editor.id)
        assert r.status_code == 204, r.text
        code, _ = await asyncio.wait_for(live.closed, 1)  # closed within a second
    assert code == 4401

    assert (await client.get("/api/auth/me", headers=bearer(owner))).status_code == 401
    assert (await _refresh(client, owner.refresh_token)).status_code == 401
    async with yclient(server.ws_url, doc, owner.access_token, sync=False) as refused:
        code, _ = await asyncio.wait_for(refused.closed, 10)
    assert code in (4401, 4403)
    r = await client.get(f"/api/projects/{pid}/members", headers=bearer(editor))
    assert [(m["user_id"], m["role"]) for m in r.json()] == [(editor.id, "owner")]
    rows = await _sql(
        server,
        "SELECT action, target_project FROM audit_log WHERE actor = $1 AND action IN"
        " ('project.ownership_transferred', 'account.deleted') ORDER BY id",
        uuid.UUID(owner.id),
    )
    assert [(r["action"], r["target_project"]) for r in rows] == [
        ("project.ownership_transferred", uuid.UUID(pid)),
        ("account.deleted", None),
    ]


async def test_account_without_sole_ownership_deletes_at_once(
    client: httpx.AsyncClient,
) -> None:
    owner, pid = await new_project(client)
    co_owner = await add_member(client, owner, pid, "owner")
    assert (await _delete(client, co_owner, password=co_owner.password)).status_code == 204
    login = {"email": co_owner.email, "password": co_owner.password}
    assert (await client.post("/api/auth/login", json=login)).status_code == 401
    r = await client.get(f"/api/projects/{pid}/members", headers=bearer(owner))
    assert [m["user_id"] for m in r.json()] == [owner.id]


async def _sessions(client: httpx.AsyncClient, account: Account) -> list[dict[str, str]]:
    r = await client.get("/api/account/sessions", headers=bearer(account))
    assert r.status_code == 200, r.text
    sessions: list[dict[str, str]] = r.json()
    return sessions


async def test_sessions_are_listed_and_revoked(client: httpx.AsyncClient) -> None:
    account = await make_account(client)
    browser = await _login(client, account, **{"user-agent": "Browser/1.0"})
    await _login(client, account, **{"user-agent": "x" * 5000})
    r = await _refresh(client, browser["refresh_token"])  # another client, same session
    browser = r.json()
    sessions = await _sessions(client, account)
    assert len(sessions) == 3
    agents = [s["user_agent"] for s in sessions]
    assert "Browser/1.0" in agents
    assert "x" * 200 in agents  # kept short
    first = next(s for s in sessions if s["user_agent"] == "Browser/1.0")
    assert first["last_used_at"] > first["created_at"]

    stranger = await make_account(client)
    path = f"/api/account/sessions/{first['id']}"
    assert (await client.delete(path, headers=bearer(stranger))).status_code == 404
    assert (await client.delete(path, headers=bearer(account))).status_code == 204
    assert (await client.delete(path, headers=bearer(account))).status_code == 404
    assert (await _refresh(client, browser["refresh_token"])).status_code == 401
    assert len(await _sessions(client, account)) == 2
    assert (await _refresh(client, account.refresh_token)).status_code == 200


async def test_disabled_account_cannot_log_in_or_refresh(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    account = await make_account(client)
    await _sql(server, "UPDATE users SET disabled_at = now() WHERE id = $1", uuid.UUID(account.id))
    login = {"email": account.email, "password": account.password}
    r = await client.post("/api/auth/login", json=login)
    assert r.status_code == 401
    assert "disabled" in r.json()["error"]["message"]
    # Without the password, a disabled account answers like any wrong password.
    r = await client.post("/api/auth/login", json={**login, "password": "wrong-password"})
    assert r.json()["error"]["message"] == "wrong email or password"
    r = await _refresh(client, account.refresh_token)
    assert r.status_code == 401
    assert "disabled" in r.json()["error"]["message"]
    # Enabled again, the session resumes: the refused refresh did not use up its token.
    await _sql(server, "UPDATE users SET disabled_at = NULL WHERE id = $1", uuid.UUID(account.id))
    assert (await _refresh(client, account.refresh_token)).status_code == 200


def _registration(email: str) -> dict[str, str]:
    return {"email": email, "password": f"Str0ng-{uuid.uuid4().hex}", "display_name": "New"}


async def test_invite_only_registration(
    client: httpx.AsyncClient, database: str, tmp_path: Path
) -> None:
    owner, pid = await new_project(client)
    invited = f"inv-{uuid.uuid4().hex[:8]}@example.com"
    r = await client.post(
        f"/api/projects/{pid}/invitations",
        json={"email": invited, "role": "viewer"},
        headers=bearer(owner),
    )
    assert r.status_code == 201
    token = r.json()["token"]
    async with run_server(settings_for(database, tmp_path, registration="invite")) as invite:
        async with invite.client() as c:
            r = await c.post("/api/auth/register", json=_registration("nobody@example.com"))
            assert r.status_code == 403
            assert "invitation" in r.json()["error"]["message"]
            # Knowing the invited address is not enough: the token must come with it...
            r = await c.post("/api/auth/register", json=_registration(invited))
            assert r.status_code == 403
            # ...and the token is not enough for another address.
            other = {**_registration("other@example.com"), "invitation": token}
            assert (await c.post("/api/auth/register", json=other)).status_code == 403
            mine = {**_registration(invited.upper()), "invitation": token}
            r = await c.post("/api/auth/register", json=mine)
            assert r.status_code == 201, r.text
            # An account that exists is still not revealed (its invitation is pending too).
            r = await c.post("/api/auth/register", json=mine)
            assert r.status_code == 201


async def test_closed_registration(
    client: httpx.AsyncClient, database: str, tmp_path: Path
) -> None:
    account = await make_account(client)
    async with run_server(settings_for(database, tmp_path, registration="closed")) as closed:
        async with closed.client() as c:
            r = await c.post("/api/auth/register", json=_registration("new@example.com"))
            assert r.status_code == 403
            assert "administrator" in r.json()["error"]["message"]
            await _login(c, account)  # existing accounts still sign in
