"""Access changes that happen while Redis is away still reach every node's sockets."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path

import asyncpg
import httpx
import redis

from server.revalidate import revalidate_peers
from server.services import Services
from tests.support import (
    RunningServer,
    add_member,
    bearer,
    fresh_database,
    new_project,
    redis_server,
    ua_cluster,
)
from tests.yclient import yclient


async def test_a_recheck_closes_what_the_database_no_longer_allows(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    owner, pid = await new_project(client)
    removed = await add_member(client, owner, pid, "editor")
    demoted = await add_member(client, owner, pid, "editor")
    name = f"projects/{pid}/phases/1"
    async with (
        yclient(server.ws_url, name, removed.access_token) as gone,
        yclient(server.ws_url, name, demoted.access_token) as kept,
    ):
        # Changed behind the server's back, as if the control message had been lost.
        conn = await asyncpg.connect(server.settings.database_url)
        try:
            await conn.execute(
                "DELETE FROM project_members WHERE project_id = $1 AND user_id = $2",
                uuid.UUID(pid),
                uuid.UUID(removed.id),
            )
            await conn.execute(
                "UPDATE project_members SET role = 'viewer' WHERE project_id = $1 AND user_id = $2",
                uuid.UUID(pid),
                uuid.UUID(demoted.id),
            )
        finally:
            await conn.close()
        services: Services = server.app.state.services
        assert services.rooms is not None
        assert await revalidate_peers(services.db, services.rooms) >= 2
        code, _ = await asyncio.wait_for(gone.closed, 5)
        assert code == 4403
        assert not kept.closed.done()
        room = services.rooms.loaded(name)
        assert room is not None
        assert all(p.read_only for p in room.peers if str(p.user_id) == demoted.id)


async def test_a_member_removed_while_redis_is_down_loses_sockets_on_every_node(
    tmp_path: Path,
) -> None:
    with redis_server() as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        async with (
            fresh_database() as dsn,
            ua_cluster(dsn, url, tmp_path, 2) as (ports, _, _),
        ):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}") as http:
                owner, pid = await new_project(http)
                member = await add_member(http, owner, pid, "editor")
                name = f"projects/{pid}/phases/1"
                async with yclient(f"ws://127.0.0.1:{ports[1]}", name, member.access_token) as y:
                    with contextlib.suppress(redis.exceptions.ConnectionError):
                        redis.Redis.from_url(url).shutdown(nosave=True)
                    await asyncio.sleep(1)  # both nodes notice
                    r = await http.delete(
                        f"/api/projects/{pid}/members/{member.id}", headers=bearer(owner)
                    )
                    assert r.status_code == 204, r.text
                    await asyncio.sleep(1)
                    assert not y.closed.done()  # nothing reached the other node yet
                    with redis_server(port):
                        code, _ = await asyncio.wait_for(y.closed, 15)
                    assert code == 4403
