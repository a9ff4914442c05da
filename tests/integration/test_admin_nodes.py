"""Disabling an account closes its live connections on every node of a cluster."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx

from collab.protocol import hocuspocus as hp
from tests.hclient import HClient, HDoc, hclient
from tests.support import (
    ROOT,
    Account,
    add_member,
    bearer,
    fresh_database,
    new_project,
    ua_cluster,
)
from tests.yclient import YClient, yclient


@asynccontextmanager
async def two_nodes(redis: str, tmp: Path) -> AsyncIterator[tuple[list[int], dict[str, str]]]:
    """Two `ua serve` processes on one new database and Redis: (ports, their environment)."""
    async with fresh_database() as dsn, ua_cluster(dsn, redis, tmp, 2) as (ports, _, env):
        yield ports, env


async def member_on_both(ports: list[int], env: dict[str, str]) -> tuple[Account, Account, str]:
    """(admin, member, project id): the member is an editor of the project."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}") as http:
        owner, pid = await new_project(http)
        member = await add_member(http, owner, pid, "editor")
    conn = await asyncpg.connect(env["DATABASE_URL"])
    try:  # as `ua admin create-user --admin` does
        await conn.execute("UPDATE users SET role = 'admin' WHERE id = $1", uuid.UUID(owner.id))
    finally:
        await conn.close()
    return owner, member, pid


async def closed_within(disable: Awaitable[None], y: YClient, h: HClient, seconds: float) -> None:
    """Run `disable`; both sockets must close with 4401 within `seconds` of its answer."""
    await disable
    started = time.monotonic()
    code, _ = await asyncio.wait_for(y.closed, 5)
    await h.wait_until(lambda: h.close_code is not None, timeout=5)
    elapsed = time.monotonic() - started
    assert (code, h.close_code) == (4401, 4401)
    assert elapsed < seconds, f"the sockets closed after {elapsed:.2f}s"


async def test_disable_closes_sockets_on_every_node(redis_url: str, tmp_path: Path) -> None:
    async with two_nodes(redis_url, tmp_path) as (ports, env):
        admin, member, pid = await member_on_both(ports, env)
        name = f"projects/{pid}/phases/3"
        async with (
            yclient(f"ws://127.0.0.1:{ports[0]}", name, member.access_token) as y,
            hclient(f"ws://127.0.0.1:{ports[1]}") as h,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}") as http,
        ):
            await h.open(name, member.access_token)

            async def disable() -> None:
                r = await http.post(f"/api/admin/users/{member.id}/disable", headers=bearer(admin))
                assert r.status_code == 200, r.text

            await closed_within(disable(), y, h, 1.0)
            # Reconnecting is refused too: the token is valid, the account is not.
            async with hclient(f"ws://127.0.0.1:{ports[1]}") as again:
                doc = again.docs[name] = HDoc(name)
                await again.send(name, hp.AuthToken(member.access_token, "4.8.0"))
                await again.wait_until(
                    lambda: bool(doc.scope or doc.denied or again.close_code), timeout=5
                )
                assert doc.scope is None


async def test_cli_disable_reaches_every_node_through_redis(redis_url: str, tmp_path: Path) -> None:
    async with two_nodes(redis_url, tmp_path) as (ports, env):
        _, member, pid = await member_on_both(ports, env)
        name = f"projects/{pid}/phases/5"
        async with (
            hclient(f"ws://127.0.0.1:{ports[0]}") as h,
            yclient(f"ws://127.0.0.1:{ports[1]}", name, member.access_token) as y,
        ):
            await h.open(name, member.access_token)

            async def disable() -> None:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "server.cli",
                    "admin",
                    "disable",
                    member.email,
                    env={**os.environ, **env},
                    cwd=ROOT,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                out, err = await asyncio.wait_for(proc.communicate(), 60)
                assert proc.returncode == 0, err.decode()
                assert "asked 2 running node(s)" in out.decode()

            await closed_within(disable(), y, h, 1.0)
