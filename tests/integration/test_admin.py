"""The admin API, password resets and `ua admin`: what the account role admin may do."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from server.routes import admin as admin_routes
from tests.accounts import make_admin, set_account_role
from tests.integration.test_openapi_fuzz import _fuzz_operation
from tests.support import (
    ROOT,
    Account,
    RunningServer,
    add_member,
    bearer,
    eventually,
    fresh_database,
    make_account,
    new_project,
    run_server,
    settings_for,
)
from tests.yclient import yclient

ANY_ID = "00000000-0000-4000-8000-000000000000"
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/admin/users", None),
    ("GET", f"/api/admin/users/{ANY_ID}", None),
    ("POST", f"/api/admin/users/{ANY_ID}/disable", None),
    ("POST", f"/api/admin/users/{ANY_ID}/enable", None),
    ("DELETE", f"/api/admin/users/{ANY_ID}", None),
    ("PUT", f"/api/admin/users/{ANY_ID}/role", {"role": "admin"}),
    ("POST", f"/api/admin/users/{ANY_ID}/password-reset", None),
    ("GET", "/api/admin/projects", None),
]


def test_the_route_list_covers_every_admin_operation() -> None:
    declared = {
        (op.method, op.path.replace("{user_id:uuid}", ANY_ID)) for op in admin_routes.api.operations
    }
    assert declared == {(method, path) for method, path, _ in ROUTES}


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_admin_routes_refuse_anonymous_and_users(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    r = await client.request(method, path, json=body)
    assert r.status_code == 401, r.text
    user = await make_account(client)
    r = await client.request(method, path, json=body, headers=bearer(user))
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"


async def register(client: httpx.AsyncClient, email: str, name: str) -> None:
    r = await client.post(
        "/api/auth/register",
        json={"email": email, "password": f"Str0ng-{uuid.uuid4().hex}", "display_name": name},
    )
    assert r.status_code == 201, r.text


async def test_list_search_and_paginate(server: RunningServer, client: httpx.AsyncClient) -> None:
    admin = await make_admin(server, client)
    marker = uuid.uuid4().hex[:8]
    await register(client, f"a{marker}@example.com", "Ann")
    await register(client, f"b{marker}@example.com", "Bob")
    await register(client, f"c-other-{uuid.uuid4().hex[:6]}@example.com", f"Carl {marker}")
    await register(client, f"d{uuid.uuid4().hex[:6]}@example.com", f"x_{marker}")

    async def search(q: str, **params: Any) -> dict[str, Any]:
        r = await client.get("/api/admin/users", params={"q": q, **params}, headers=bearer(admin))
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    found = await search(marker.upper())  # any case, email or display name
    assert len(found["items"]) == 4 and found["next_cursor"] is None
    item = found["items"][0]
    assert set(item) == {
        "id",
        "email",
        "display_name",
        "role",
        "disabled",
        "disabled_at",
        "created_at",
    }
    assert item["role"] == "user" and item["disabled"] is False
    emails = [i["email"] for i in found["items"]]
    assert emails == sorted(emails, key=str.lower)
    # LIKE wildcards are literal: `_` matches only an underscore, `%` nothing here.
    assert [i["display_name"] for i in (await search(f"_{marker}"))["items"]] == [f"x_{marker}"]
    assert (await search(f"{marker}%"))["items"] == []
    first = await search(marker, limit=3)
    assert len(first["items"]) == 3 and first["next_cursor"]
    rest = await search(marker, limit=3, cursor=first["next_cursor"])
    assert [i["email"] for i in first["items"] + rest["items"]] == emails
    assert rest["next_cursor"] is None
    for bad in ("not base64!", "%%%", "AAAA", "////"):
        r = await client.get("/api/admin/users", params={"cursor": bad}, headers=bearer(admin))
        assert r.status_code == 422, (bad, r.text)
    r = await client.get("/api/admin/projects", params={"cursor": "eA"}, headers=bearer(admin))
    assert r.status_code == 422


async def test_user_detail_lists_projects_and_roles(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    admin = await make_admin(server, client)
    owner, pid = await new_project(client, "Detailed")
    member = await add_member(client, owner, pid, "viewer")
    r = await client.get(f"/api/admin/users/{member.id}", headers=bearer(admin))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["email"] == member.email and body["role"] == "user"
    assert [(p["project_id"], p["name"], p["role"]) for p in body["projects"]] == [
        (pid, "Detailed", "viewer")
    ]
    r = await client.get(f"/api/admin/users/{uuid.uuid4()}", headers=bearer(admin))
    assert r.status_code == 404


async def audit_actions(server: RunningServer, user_id: str) -> list[tuple[str | None, str]]:
    """(actor, action) of the account.* entries about an account, oldest first."""
    conn = await asyncpg.connect(server.settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT actor, action FROM audit_log WHERE target_user = $1"
            " AND action LIKE 'account.%' ORDER BY id",
            uuid.UUID(user_id),
        )
    finally:
        await conn.close()
    return [(None if r["actor"] is None else str(r["actor"]), r["action"]) for r in rows]


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def test_disable_shuts_every_door_and_enable_reopens_login(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    admin = await make_admin(server, client)
    owner, pid = await new_project(client)
    member = await add_member(client, owner, pid, "editor")
    async with yclient(server.ws_url, f"projects/{pid}/phases/1", member.access_token) as ws:
        r = await client.post(f"/api/admin/users/{member.id}/disable", headers=bearer(admin))
        assert r.status_code == 200, r.text
        assert r.json()["disabled"] is True and r.json()["disabled_at"]
        code, _ = await asyncio.wait_for(ws.closed, 1)
        assert code == 4401
    assert (await login(client, member.email, member.password)).status_code == 401
    r = await client.post("/api/auth/refresh", json={"refresh_token": member.refresh_token})
    assert r.status_code == 401
    assert (await client.get("/api/auth/me", headers=bearer(member))).status_code == 401
    # Disabling twice is no error (and writes no second entry).
    r = await client.post(f"/api/admin/users/{member.id}/disable", headers=bearer(admin))
    assert r.status_code == 200
    r = await client.post(f"/api/admin/users/{member.id}/enable", headers=bearer(admin))
    assert r.status_code == 200 and r.json()["disabled"] is False
    assert (await login(client, member.email, member.password)).status_code == 200
    # Sessions revoked by the disable stay revoked.
    r = await client.post("/api/auth/refresh", json={"refresh_token": member.refresh_token})
    assert r.status_code == 401
    assert await audit_actions(server, member.id) == [
        (admin.id, "account.disabled"),
        (admin.id, "account.enabled"),
    ]


async def test_disable_refuses_yourself_and_unknown_accounts(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    admin = await make_admin(server, client)
    r = await client.post(f"/api/admin/users/{admin.id}/disable", headers=bearer(admin))
    assert r.status_code == 409
    for action in ("disable", "enable", "password-reset"):
        r = await client.post(f"/api/admin/users/{uuid.uuid4()}/{action}", headers=bearer(admin))
        assert r.status_code == 404, (action, r.text)


async def test_role_change_takes_effect_on_the_next_request(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    admin = await make_admin(server, client)
    user = await make_account(client)
    url = f"/api/admin/users/{user.id}/role"
    r = await client.put(url, json={"role": "admin"}, headers=bearer(admin))
    assert r.status_code == 200 and r.json()["role"] == "admin"
    # Its token still says "user": the role is read from the account on each request.
    assert (await client.get("/api/admin/users", headers=bearer(user))).status_code == 200
    r = await client.put(url, json={"role": "user"}, headers=bearer(admin))
    assert r.status_code == 200 and r.json()["role"] == "user"
    assert (await client.get("/api/admin/users", headers=bearer(user))).status_code == 403
    r = await client.put(url, json={"role": "root"}, headers=bearer(admin))
    assert r.status_code == 422
    conn = await asyncpg.connect(server.settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT details FROM audit_log WHERE action = 'account.role_changed'"
            " AND target_user = $1 ORDER BY id",
            uuid.UUID(user.id),
        )
    finally:
        await conn.close()
    assert [json.loads(r["details"]) for r in rows] == [
        {"from": "user", "to": "admin", "email": user.email},
        {"from": "admin", "to": "user", "email": user.email},
    ]


@pytest.fixture(scope="module")
async def lone(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningServer]:
    """A server of its own, whose admins this module alone makes: the last-admin rules."""
    async with fresh_database() as dsn:
        settings = settings_for(dsn, tmp_path_factory.mktemp("lone"))
        async with run_server(settings) as running:
            yield running


async def test_the_last_enabled_admin_stays_one(lone: RunningServer) -> None:
    async with lone.client() as client:
        first = await make_admin(lone, client)
        other = await make_account(client)
        me = f"/api/admin/users/{first.id}/role"
        r = await client.put(me, json={"role": "user"}, headers=bearer(first))
        assert r.status_code == 409, r.text
        r = await client.put(
            f"/api/admin/users/{other.id}/role", json={"role": "admin"}, headers=bearer(first)
        )
        assert r.status_code == 200
        # Two admins: one may step down, and then the other is the last.
        assert (
            await client.put(me, json={"role": "user"}, headers=bearer(first))
        ).status_code == 200
        r = await client.put(
            f"/api/admin/users/{other.id}/role", json={"role": "user"}, headers=bearer(other)
        )
        assert r.status_code == 409
        # A disabled admin does not count: re-promote `first`, disable it, `other` is last.
        await set_account_role(lone, first.id, "admin")
        r = await client.post(f"/api/admin/users/{first.id}/disable", headers=bearer(other))
        assert r.status_code == 200
        r = await client.put(
            f"/api/admin/users/{other.id}/role", json={"role": "user"}, headers=bearer(other)
        )
        assert r.status_code == 409
        code, _, err = await ua_admin(lone, "disable", other.email)
        assert code == 1 and "last enabled admin" in err
        # Nor can the last admin delete their own account.
        r = await client.request(
            "DELETE", "/api/account", json={"password": other.password}, headers=bearer(other)
        )
        assert r.status_code == 409 and "last enabled admin" in r.json()["error"]["message"]


async def reset_token(client: httpx.AsyncClient, admin: Account, user_id: str) -> str:
    r = await client.post(f"/api/admin/users/{user_id}/password-reset", headers=bearer(admin))
    assert r.status_code == 201, r.text
    expires = datetime.fromisoformat(r.json()["expires_at"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)
    return r.json()["token"]  # type: ignore[no-any-return]


async def reset(client: httpx.AsyncClient, token: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/auth/password-reset", json={"token": token, "new_password": password}
    )


async def test_password_reset_is_single_use_and_signs_out(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    admin = await make_admin(server, client)
    user = await make_account(client)
    token = await reset_token(client, admin, user.id)
    r = await reset(client, token, "short")
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "new_password"
    new_password = f"Brand-new-{uuid.uuid4().hex[:8]}"
    assert (await reset(client, token, new_password)).status_code == 204
    assert (await login(client, user.email, user.password)).status_code == 401
    assert (await login(client, user.email, new_password)).status_code == 200
    r = await client.post("/api/auth/refresh", json={"refresh_token": user.refresh_token})
    assert r.status_code == 401
    r = await reset(client, token, f"Another-one-{uuid.uuid4().hex[:8]}")
    assert r.status_code == 400 and "already used" in r.json()["error"]["message"]
    r = await reset(client, "no-such-token", f"Another-one-{uuid.uuid4().hex[:8]}")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_reset_token"
    assert await audit_actions(server, user.id) == [
        (admin.id, "account.password_reset_issued"),
        (user.id, "account.password_reset"),
    ]


async def test_password_reset_tokens_expire(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    admin = await make_admin(server, client)
    user = await make_account(client)
    older = await reset_token(client, admin, user.id)
    newer = await reset_token(client, admin, user.id)
    password = f"Brand-new-{uuid.uuid4().hex[:8]}"
    r = await reset(client, older, password)  # a newer token replaces it
    assert r.status_code == 400 and "expired" in r.json()["error"]["message"]
    conn = await asyncpg.connect(server.settings.database_url)
    try:
        await conn.execute(
            "UPDATE password_resets SET expires_at = now() - interval '1 second'"
            " WHERE user_id = $1",
            uuid.UUID(user.id),
        )
    finally:
        await conn.close()
    r = await reset(client, newer, password)
    assert r.status_code == 400 and "expired" in r.json()["error"]["message"]
    assert (await login(client, user.email, user.password)).status_code == 200


async def test_admin_delete_with_and_without_transfer(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    admin = await make_admin(server, client)
    owner, pid = await new_project(client, "Orphan")
    heir = await add_member(client, owner, pid, "viewer")
    url = f"/api/admin/users/{owner.id}"
    r = await client.delete(url, headers=bearer(admin))
    assert r.status_code == 409, r.text
    assert r.json()["error"]["details"] == [{"id": pid, "name": "Orphan"}]
    r = await client.delete(url, params={"transfer_to": heir.id}, headers=bearer(admin))
    assert r.status_code == 204, r.text
    r = await client.get(f"/api/admin/users/{heir.id}", headers=bearer(admin))
    assert [(p["project_id"], p["role"]) for p in r.json()["projects"]] == [(pid, "owner")]
    assert (await client.get(url, headers=bearer(admin))).status_code == 404
    assert (await login(client, owner.email, owner.password)).status_code == 401
    assert (await audit_actions(server, owner.id))[-1] == (admin.id, "account.deleted")
    # Without projects there is nothing to transfer.
    loner = await make_account(client)
    r = await client.delete(f"/api/admin/users/{loner.id}", headers=bearer(admin))
    assert r.status_code == 204
    r = await client.delete(f"/api/admin/users/{admin.id}", headers=bearer(admin))
    assert r.status_code == 409
    r = await client.delete(f"/api/admin/users/{uuid.uuid4()}", headers=bearer(admin))
    assert r.status_code == 404


async def all_projects(
    client: httpx.AsyncClient, admin: Account, limit: int
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        r = await client.get(
            "/api/admin/projects", params={"limit": limit, "cursor": cursor}, headers=bearer(admin)
        )
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items
        assert len(r.json()["items"]) == limit


async def test_projects_with_owners_and_sizes(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    admin = await make_admin(server, client)
    owner, pid = await new_project(client, "Sized")
    await add_member(client, owner, pid, "editor")
    async with yclient(server.ws_url, f"projects/{pid}/phases/1", owner.access_token) as ws:
        await ws.add_paragraph("x" * 2000)

        async def stored() -> bool:
            found = [p for p in await all_projects(client, admin, 200) if p["id"] == pid]
            return found[0]["document_bytes"] > 2000

        await eventually(stored)
    every = await all_projects(client, admin, 200)
    project = next(p for p in every if p["id"] == pid)
    assert project["owners"] == [{"id": owner.id, "email": owner.email}]
    assert project["members"] == 2 and project["name"] == "Sized"
    assert project["version_bytes"] == 0
    # Small pages give the same projects in the same order, each once.
    assert [p["id"] for p in await all_projects(client, admin, 3)] == [p["id"] for p in every]


async def test_admin_routes_never_fail_under_fuzzing(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    import schemathesis
    from schemathesis import GenerationMode

    admin = await make_admin(server, client)

    def fuzz() -> list[str]:
        schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
        failures = []
        for result in schema.get_all_operations():
            operation = result.ok()
            if not operation.path.startswith(
                ("/api/admin/users", "/api/admin/projects", "/api/auth/password-reset")
            ):
                continue
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    _fuzz_operation(operation, mode, server.base_url, bearer(admin), None)
                except (Exception, BaseExceptionGroup) as exc:
                    failures.append(f"{operation.label} [{mode.value}]: {exc}")
        return failures

    failures = await asyncio.to_thread(fuzz)
    assert not failures, "\n\n".join(failures)


async def ua_admin(server: RunningServer, *args: str) -> tuple[int, str, str]:
    """`python -m server.cli admin ...` against the server's database; (status, out, err)."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(
        DATABASE_URL=server.settings.database_url or "",
        DATA_DIR=str(server.settings.data_dir),
        ARGON2_MEMORY_KIB="1024",
        ARGON2_TIME_COST="1",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "admin",
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_lists_disables_enables_and_resets(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    marker = uuid.uuid4().hex[:8]
    user = await make_account(client, f"cli{marker}")
    code, out, _ = await ua_admin(server, "list-users", "--query", marker)
    assert code == 0
    assert out.splitlines() == [
        f"{user.email}\tuser\tenabled\t{datetime.now(UTC):%Y-%m-%d}\t{user.id}"
    ]
    code, out, _ = await ua_admin(server, "disable", user.email)
    assert code == 0 and f"{user.email} disabled" in out and "REDIS_URL" in out
    assert (await login(client, user.email, user.password)).status_code == 401
    assert (await client.get("/api/auth/me", headers=bearer(user))).status_code == 401
    code, out, _ = await ua_admin(server, "list-users", "--query", marker)
    assert "\tdisabled\t" in out
    code, out, _ = await ua_admin(server, "enable", user.email.upper())
    assert code == 0
    assert (await login(client, user.email, user.password)).status_code == 200
    code, out, _ = await ua_admin(server, "reset-password", user.email)
    assert code == 0
    token = out.splitlines()[1]
    new_password = f"Cli-reset-{uuid.uuid4().hex[:8]}"
    assert (await reset(client, token, new_password)).status_code == 204
    assert (await login(client, user.email, new_password)).status_code == 200
    assert await audit_actions(server, user.id) == [
        (None, "account.disabled"),
        (None, "account.enabled"),
        (None, "account.password_reset_issued"),
        (user.id, "account.password_reset"),
    ]
    code, _, err = await ua_admin(server, "disable", "nobody@example.com")
    assert code == 1 and "no account" in err
