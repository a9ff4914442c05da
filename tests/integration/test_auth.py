from __future__ import annotations

import base64
import json
import time
import uuid

import httpx
import jwt

from tests.support import RunningServer, bearer, make_account


async def test_register_login_me(client: httpx.AsyncClient) -> None:
    account = await make_account(client)
    r = await client.get("/api/auth/me", headers=bearer(account))
    assert r.status_code == 200
    assert r.json()["email"] == account.email
    assert r.json()["role"] == "user"


async def test_duplicate_email_is_case_insensitive(client: httpx.AsyncClient) -> None:
    account = await make_account(client)
    r = await client.post(
        "/api/auth/register",
        json={
            "email": account.email.upper(),
            "password": "An0ther-Str0ng-pass",
            "display_name": "x",
        },
    )
    # Answered like a new registration (no probing for accounts), but nothing was created.
    assert r.status_code == 201
    r = await client.post(
        "/api/auth/login", json={"email": account.email.upper(), "password": "An0ther-Str0ng-pass"}
    )
    assert r.status_code == 401


async def test_weak_passwords_are_refused(client: httpx.AsyncClient) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    for weak in ("short1!", "password123", "qwertyuiop", email, "aaaaaaaaaaaa"):
        r = await client.post(
            "/api/auth/register", json={"email": email, "password": weak, "display_name": "w"}
        )
        assert r.status_code == 422, weak
        assert r.json()["error"]["details"][0]["field"] == "password"


async def test_wrong_password_and_unknown_email_answer_alike(client: httpx.AsyncClient) -> None:
    account = await make_account(client)
    wrong = await client.post(
        "/api/auth/login", json={"email": account.email, "password": "nope-nope-nope"}
    )
    unknown = await client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": "nope-nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_unknown_email_costs_a_hash(client: httpx.AsyncClient) -> None:
    account = await make_account(client)

    async def timed(email: str) -> float:
        start = time.perf_counter()
        await client.post("/api/auth/login", json={"email": email, "password": "wrong-wrong-wrong"})
        return time.perf_counter() - start

    known = min([await timed(account.email) for _ in range(3)])
    unknown = min([await timed(f"x{uuid.uuid4().hex[:6]}@example.com") for _ in range(3)])
    # Both paths run one Argon2 verification; allow generous noise either way.
    assert unknown > known / 4


async def test_refresh_rotates_and_reuse_revokes_family(client: httpx.AsyncClient) -> None:
    account = await make_account(client)
    first = await client.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
    assert first.status_code == 200
    rotated = first.json()["refresh_token"]
    assert rotated != account.refresh_token
    reused = await client.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
    assert reused.status_code == 401
    # The whole family is gone, including the token rotated from the reused one.
    after = await client.post("/api/auth/refresh", json={"refresh_token": rotated})
    assert after.status_code == 401


async def test_logout_revokes_refresh_token(client: httpx.AsyncClient) -> None:
    account = await make_account(client)
    r = await client.post("/api/auth/logout", json={"refresh_token": account.refresh_token})
    assert r.status_code == 204
    r = await client.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
    assert r.status_code == 401


def _forge(claims: dict[str, object], header: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


async def test_bad_tokens_are_refused(client: httpx.AsyncClient, server: RunningServer) -> None:
    account = await make_account(client)
    secret = server.settings.secret
    now = int(time.time())
    claims = {"sub": account.id, "type": "access", "iat": now, "jti": "j", "exp": now + 60}
    expired = jwt.encode({**claims, "iat": now - 120, "exp": now - 60}, secret, algorithm="HS256")
    wrong_key = jwt.encode(claims, "another-secret-of-sufficient-length-123456", algorithm="HS256")
    refresh_type = jwt.encode({**claims, "type": "refresh"}, secret, algorithm="HS256")
    no_jti = jwt.encode({k: v for k, v in claims.items() if k != "jti"}, secret, algorithm="HS256")
    alg_none = _forge(claims, {"alg": "none", "typ": "JWT"})
    tampered = account.access_token[:-4] + (
        "AAAA" if not account.access_token.endswith("AAAA") else "BBBB"
    )
    for token in (expired, wrong_key, refresh_type, no_jti, alg_none, tampered, "garbage"):
        r = await client.get("/api/auth/me", headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 401, token
        assert r.json()["error"]["code"] == "unauthorized"
    r = await client.get("/api/auth/me")
    assert r.status_code == 401


async def test_login_rate_limit_per_email(client: httpx.AsyncClient, server: RunningServer) -> None:
    account = await make_account(client)
    limit = server.settings.login_rate_limit
    statuses = []
    for _ in range(limit + 2):
        r = await client.post(
            "/api/auth/login", json={"email": account.email, "password": "wrong-wrong-1"}
        )
        statuses.append(r.status_code)
    assert statuses[: limit - 1].count(401) == limit - 1  # make_account used one attempt
    assert statuses[-1] == 429
    assert int(r.headers["retry-after"]) >= 1


async def test_outdated_hash_is_rehashed_at_login(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    import asyncpg

    from server.auth.passwords import PasswordHasher

    old = PasswordHasher(time_cost=1, memory_kib=512)
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    password = "Old-params-password-1"
    conn = await asyncpg.connect(server.settings.database_url)
    try:
        stored = await old.hash(password)
        await conn.execute(
            "INSERT INTO users (email, display_name, password_hash) VALUES ($1, 'old', $2)",
            email,
            stored,
        )
        r = await client.post("/api/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200
        updated = await conn.fetchval("SELECT password_hash FROM users WHERE email = $1", email)
    finally:
        await conn.close()
    assert updated != stored and "m=1024" in updated
