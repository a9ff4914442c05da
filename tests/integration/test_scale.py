"""Several `ua serve` processes sharing Postgres and Redis behave as one server."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx

from collab.protocol import ywire
from tests.hclient import hclient
from tests.support import (
    Account,
    add_member,
    bearer,
    free_port,
    fresh_database,
    make_account,
    redis_server,
    ua_cluster,
    ua_process,
)
from tests.yclient import yclient


@asynccontextmanager
async def cluster(
    dsn: str, redis: str, tmp: Path, nodes: int
) -> AsyncIterator[tuple[list[int], list[asyncio.subprocess.Process]]]:
    async with ua_cluster(dsn, redis, tmp, nodes) as (ports, procs, _):
        yield ports, procs


async def _project(port: int) -> tuple[Account, str]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        owner = await make_account(http)
        r = await http.post("/api/projects", json={"name": "Scale"}, headers=bearer(owner))
        return owner, r.json()["id"]


def ws(port: int) -> str:
    return f"ws://127.0.0.1:{port}"


async def test_three_nodes_converge_and_late_joiner_gets_all(
    redis_url: str, tmp_path: Path
) -> None:
    async with fresh_database() as dsn, cluster(dsn, redis_url, tmp_path, 4) as (ports, _):
        owner, pid = await _project(ports[0])
        name = f"projects/{pid}/phases/1"
        token = owner.access_token
        async with (
            yclient(ws(ports[0]), name, token) as a,
            hclient(ws(ports[1])) as hb,
            yclient(ws(ports[2]), name, token) as c,
        ):
            b = await hb.open(name, token)
            for i in range(10):
                await a.add_paragraph(f"a{i}")
                await hb.add_paragraph(name, f"b{i}")
                await c.add_paragraph(f"c{i}")
            await a.wait_until(lambda: len(a.paragraphs()) == 30, timeout=20)
            await c.wait_until(lambda: len(c.paragraphs()) == 30, timeout=20)
            await hb.wait_until(lambda: len(b.paragraphs()) == 30, timeout=20)
            lists = {"a": a.paragraphs(), "b": b.paragraphs(), "c": c.paragraphs()}
            assert lists["a"] == lists["b"] == lists["c"], lists
            async with yclient(ws(ports[3]), name, token) as late:
                assert sorted(late.paragraphs()) == sorted(a.paragraphs())


async def test_killed_node_clients_move_and_nothing_is_lost(redis_url: str, tmp_path: Path) -> None:
    async with fresh_database() as dsn, cluster(dsn, redis_url, tmp_path, 2) as (ports, procs):
        owner, pid = await _project(ports[1])
        name = f"projects/{pid}/phases/2"
        token = owner.access_token
        async with yclient(ws(ports[1]), name, token) as survivor:
            async with yclient(ws(ports[0]), name, token) as doomed:
                for i in range(20):
                    await doomed.add_paragraph(f"d{i}")
                    await survivor.add_paragraph(f"s{i}")
                await survivor.wait_until(lambda: len(survivor.paragraphs()) >= 20)
                procs[0].kill()
                await procs[0].wait()
                state = doomed.doc.get_update()
            # The client of the dead node reconnects to the survivor with its whole state.
            async with yclient(ws(ports[1]), name, token) as moved:
                await moved.send(ywire.SyncStep2(state))
                await survivor.wait_until(lambda: len(survivor.paragraphs()) == 40, timeout=20)
        await asyncio.sleep(0.5)  # let the survivor's journal commit
        async with yclient(ws(ports[1]), name, token) as check:
            assert len(check.paragraphs()) == 40


async def test_redis_restart_loses_nothing(tmp_path: Path) -> None:
    with redis_server() as redis_url:
        port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
        async with fresh_database() as dsn, cluster(dsn, redis_url, tmp_path, 2) as (ports, _):
            owner, pid = await _project(ports[0])
            name = f"projects/{pid}/phases/3"
            token = owner.access_token
            async with (
                yclient(ws(ports[0]), name, token) as a,
                yclient(ws(ports[1]), name, token) as b,
            ):
                await a.add_paragraph("before")
                await b.wait_until(lambda: len(b.paragraphs()) == 1)
                _stop_redis(redis_url)
                await a.add_paragraph("during-a")
                await b.add_paragraph("during-b")
                await asyncio.sleep(1.5)  # both nodes notice the outage
                with redis_server(port):
                    await a.add_paragraph("after")
                    await a.wait_until(lambda: len(a.paragraphs()) == 4, timeout=30)
                    await b.wait_until(lambda: len(b.paragraphs()) == 4, timeout=30)
                    assert sorted(a.paragraphs()) == sorted(b.paragraphs())


def _stop_redis(url: str) -> None:
    import redis

    with contextlib.suppress(redis.exceptions.ConnectionError):
        redis.Redis.from_url(url).shutdown(nosave=True)


async def test_removed_member_loses_sockets_on_every_node(redis_url: str, tmp_path: Path) -> None:
    async with fresh_database() as dsn, cluster(dsn, redis_url, tmp_path, 3) as (ports, _):
        owner, pid = await _project(ports[0])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}") as http:
            member = await add_member(http, owner, pid, "editor")
            name = f"projects/{pid}/phases/4"
            async with (
                yclient(ws(ports[1]), name, member.access_token) as m1,
                hclient(ws(ports[2])) as m2,
            ):
                await m2.open(name, member.access_token)
                r = await http.delete(
                    f"/api/projects/{pid}/members/{member.id}", headers=bearer(owner)
                )
                assert r.status_code == 204
                code, _ = await asyncio.wait_for(m1.closed, 5)
                assert code == 4403
                await m2.wait_until(lambda: m2.close_code is not None, timeout=5)
                assert m2.close_code == 4403


async def test_workers_share_rooms(redis_url: str, tmp_path: Path) -> None:
    async with fresh_database() as dsn:
        port = free_port()
        env = {
            "DATABASE_URL": dsn,
            "REDIS_URL": redis_url,
            "REDIS_PREFIX": f"w{uuid.uuid4().hex[:8]}",
            "DATA_DIR": str(tmp_path),
        }
        async with ua_process(port, env, "--workers", "2", log=tmp_path / "workers.log"):
            owner, pid = await _project(port)
            name = f"projects/{pid}/phases/5"
            async with AsyncExitStack() as stack:
                clients = [
                    await stack.enter_async_context(yclient(ws(port), name, owner.access_token))
                    for _ in range(6)
                ]
                for i, c in enumerate(clients):
                    await c.add_paragraph(f"w{i}")
                for c in clients:
                    await c.wait_until(lambda c=c: len(c.paragraphs()) == 6, timeout=20)
