"""REST hardening: client addresses, secrets in logs, hostile input, registration, deletes."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support import (
    RunningServer,
    bearer,
    eventually,
    make_account,
    run_server,
    settings_for,
    wait_unloaded,
)
from tests.yclient import yclient


async def _login_status(client: httpx.AsyncClient, forwarded_for: str) -> int:
    r = await client.post(
        "/api/auth/login",
        json={"email": f"{uuid.uuid4().hex[:8]}@example.com", "password": "wrong-wrong-wrong"},
        headers={"x-forwarded-for": forwarded_for},
    )
    return r.status_code


async def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    database: str, tmp_path: Path
) -> None:
    settings = settings_for(database, tmp_path, login_ip_rate_limit=2)
    async with run_server(settings) as server, server.client() as client:
        assert [await _login_status(client, "203.0.113.1") for _ in range(2)] == [401, 401]
        # A new X-Forwarded-For is no new address: 127.0.0.1 is not a trusted proxy.
        assert await _login_status(client, "203.0.113.2") == 429


async def test_a_trusted_proxy_names_the_client(database: str, tmp_path: Path) -> None:
    settings = settings_for(database, tmp_path, login_ip_rate_limit=2, trusted_proxies="127.0.0.1")
    async with run_server(settings) as server, server.client() as client:
        assert [await _login_status(client, "203.0.113.1") for _ in range(2)] == [401, 401]
        assert await _login_status(client, "203.0.113.1") == 429
        assert await _login_status(client, "203.0.113.2") == 401  # its own budget
        # The right-most entry our proxy did not add counts; what the client wrote before is
        # ignored.
        assert await _login_status(client, "198.51.100.7, 203.0.113.1") == 429


async def test_tokens_never_reach_the_logs(
    client: httpx.AsyncClient, server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    owner = await make_account(client)
    invitee = await make_account(client)
    pid = (await client.post("/api/projects", json={"name": "p"}, headers=bearer(owner))).json()[
        "id"
    ]
    r = await client.post(
        f"/api/projects/{pid}/invitations",
        json={"email": invitee.email, "role": "editor"},
        headers=bearer(owner),
    )
    invitation = r.json()["token"]
    r = await client.post(f"/api/invitations/{invitation}/accept", headers=bearer(invitee))
    assert r.status_code == 200
    async with yclient(server.ws_url, f"projects/{pid}/phases/1", invitee.access_token):
        pass
    # The server's records only: this test's own httpx client logs the URLs it requests.
    client_side = ("httpx", "httpcore", "websockets.client")
    messages = [r.getMessage() for r in caplog.records if not r.name.startswith(client_side)]
    assert any("WebSocket /yjs/" in m and "token=<redacted>" in m for m in messages), messages
    assert any("/api/invitations/<redacted>/accept" in m for m in messages), messages
    for secret in (invitation, invitee.access_token):
        assert not [m for m in messages if secret in m]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/auth/login", {"email": "a\u0000@example.com", "password": "x"}),
        (
            "/api/auth/register",
            {"email": "n@example.com", "password": "Str0ng-passw0rd", "display_name": "a\u0000"},
        ),
        ("/api/projects", {"name": "a\u0000b"}),
        ("/api/projects", {"name": "ok", "description\u0000": "key"}),
        ("/api/projects", {"name": "\ud800"}),  # a lone surrogate: not UTF-8 either
    ],
)
async def test_nul_characters_in_bodies_are_422(
    client: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    account = await make_account(client)
    headers = {**bearer(account), "content-type": "application/json"}
    r = await client.post(path, content=json.dumps(body), headers=headers)  # \u escapes
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"


async def test_nul_characters_in_path_and_query_are_422(client: httpx.AsyncClient) -> None:
    account = await make_account(client)
    r = await client.post("/api/invitations/ab%00cd/accept", headers=bearer(account))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "token"
    r = await client.get("/api/projects?filter=%00", headers=bearer(account))
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


async def test_deeply_nested_json_is_400(client: httpx.AsyncClient) -> None:
    account = await make_account(client)
    for depth in (200_000, 100):
        body = b'{"name": ' + b"[" * depth + b"]" * depth + b"}"
        r = await client.post(
            "/api/projects",
            content=body,
            headers={**bearer(account), "content-type": "application/json"},
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "malformed_json"


async def test_search_with_a_bad_k_is_422(client: httpx.AsyncClient) -> None:
    account = await make_account(client)
    pid = (await client.post("/api/projects", json={"name": "s"}, headers=bearer(account))).json()[
        "id"
    ]
    for k in ("²", "٣", "1e3", "-1", "0", "51"):
        r = await client.get(
            f"/api/projects/{pid}/search", params={"q": "hello", "k": k}, headers=bearer(account)
        )
        assert r.status_code == 422, (k, r.text)


async def test_registering_a_taken_email_answers_like_a_new_one(
    client: httpx.AsyncClient,
) -> None:
    account = await make_account(client)
    fresh = await client.post(
        "/api/auth/register",
        json={
            "email": f"{uuid.uuid4().hex[:8]}@example.com",
            "password": "An0ther-Str0ng-pass",
            "display_name": "x",
        },
    )
    taken = await client.post(
        "/api/auth/register",
        json={
            "email": account.email.upper(),
            "password": "An0ther-Str0ng-pass",
            "display_name": "x",
        },
    )
    assert taken.status_code == fresh.status_code == 201
    assert taken.json().keys() == fresh.json().keys()
    assert taken.json()["id"] != account.id  # the real account stays hidden
    # Nothing changed: the old password still works, the new one does not.
    r = await client.post(
        "/api/auth/login", json={"email": account.email, "password": "An0ther-Str0ng-pass"}
    )
    assert r.status_code == 401
    r = await client.post(
        "/api/auth/login", json={"email": account.email, "password": account.password}
    )
    assert r.status_code == 200
    me = await client.get("/api/auth/me", headers=bearer(account))
    assert me.json()["id"] == account.id and me.json()["display_name"] != "x"


async def test_registration_is_rate_limited_per_address(database: str, tmp_path: Path) -> None:
    settings = settings_for(database, tmp_path, register_rate_limit=2)
    async with run_server(settings) as server, server.client() as client:

        async def register(forwarded_for: str) -> httpx.Response:
            return await client.post(
                "/api/auth/register",
                json={
                    "email": f"{uuid.uuid4().hex[:8]}@example.com",
                    "password": "An0ther-Str0ng-pass",
                    "display_name": "r",
                },
                headers={"x-forwarded-for": forwarded_for},
            )

        assert [(await register("203.0.113.1")).status_code for _ in range(2)] == [201, 201]
        refused = await register("203.0.113.2")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1


async def test_deleting_a_project_deletes_its_documents_and_export_files(
    client: httpx.AsyncClient, server: RunningServer, database: str
) -> None:
    owner = await make_account(client)
    pid = (await client.post("/api/projects", json={"name": "d"}, headers=bearer(owner))).json()[
        "id"
    ]
    phase, meta = f"projects/{pid}/phases/1", f"projects/{pid}/meta"
    async with yclient(server.ws_url, phase, owner.access_token) as editor:
        await editor.add_paragraph("to be deleted")
    r = await client.post(
        f"/api/projects/{pid}/exports", json={"format": "json"}, headers=bearer(owner)
    )
    export_id = r.json()["id"]

    async def exported() -> bool:
        r = await client.get(f"/api/exports/{export_id}", headers=bearer(owner))
        return bool(r.json()["status"] == "done")

    await eventually(exported, 60)
    export_dir = server.settings.export_dir
    assert [p for p in export_dir.iterdir() if p.name.startswith(export_id)]
    await wait_unloaded(server, phase, meta)  # unloading flushes the journal
    conn = await asyncpg.connect(database)
    try:
        count = "SELECT count(*) FROM {} WHERE document = ANY($1::text[])"
        assert await conn.fetchval(count.format("document_updates"), [phase, meta]) >= 2
        r = await client.delete(f"/api/projects/{pid}", headers=bearer(owner))
        assert r.status_code == 204
        for table in ("document_updates", "document_snapshots"):
            assert await conn.fetchval(count.format(table), [phase, meta]) == 0
        assert await conn.fetchval("SELECT count(*) FROM exports WHERE project_id = $1", pid) == 0
    finally:
        await conn.close()
    assert not [p for p in export_dir.iterdir() if export_id in p.name]


async def test_a_deleted_users_token_is_refused(client: httpx.AsyncClient, database: str) -> None:
    account = await make_account(client)
    conn = await asyncpg.connect(database)
    try:
        await conn.execute("DELETE FROM users WHERE id = $1", uuid.UUID(account.id))
    finally:
        await conn.close()
    for method, path, body in (
        ("GET", "/api/auth/me", None),
        ("POST", "/api/projects", {"name": "ghost"}),
    ):
        r = await client.request(method, path, json=body, headers=bearer(account))
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "unauthorized"
