from __future__ import annotations

import httpx

from tests.support import RunningServer, bearer, make_account


async def test_error_shapes(client: httpx.AsyncClient, server: RunningServer) -> None:
    r = await client.get("/no/such/route")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await client.put("/healthz")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    r = await client.post(
        "/api/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    r = await client.post("/api/auth/register", json={"email": "not-an-email", "display_name": ""})
    assert r.status_code == 422
    fields = {d["field"] for d in r.json()["error"]["details"]}
    assert {"email", "password", "display_name"} <= fields
    big = b'{"name": "' + b"x" * (server.settings.max_body_bytes + 10) + b'"}'
    account = await make_account(client)
    r = await client.post("/api/projects", content=big, headers=bearer(account))
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


async def test_health_and_request_id(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"x-request-id": "abc-123"})
    assert r.json() == {"status": "ok"} and r.headers["x-request-id"] == "abc-123"
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"]["database"] == "ok"
    assert len(r.headers["x-request-id"]) == 32


async def test_openapi_describes_every_route(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    assert "/api/projects/{project_id}/phases/{n}" in paths
    register = paths["/api/auth/register"]["post"]
    schema_ref = register["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref.endswith("/RegisterIn")
    assert "password" in spec["components"]["schemas"]["RegisterIn"]["properties"]
    from server.app import rest_api

    assert sum(len(v) for v in paths.values()) == len(rest_api().operations)
