"""Generations against a slow loopback model: the per-user limit, and the meta board.

- One user has at most AI_MAX_ACTIVE_PER_USER generations streaming at once, over every
  project, counted in the database (so racing requests cannot all pass); past it: 429.
- Every generation shows in the project meta document's `generations` map, live.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pycrdt import Map

from tests.openai_server import OpenAIServer
from tests.support import (
    Account,
    RunningServer,
    add_member,
    bearer,
    make_account,
    run_server,
    settings_for,
)
from tests.yclient import YClient, yclient

SLOW = {"tokens": [f"w{i} " for i in range(400)], "delay_s": 0.05}  # 20 s of streaming


@pytest.fixture(scope="module")
async def model() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer(embedding_dimensions=64) as srv:
        yield srv


@pytest.fixture(scope="module")
async def ai(
    database: str, model: OpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningServer]:
    settings = settings_for(
        database,
        tmp_path_factory.mktemp("ai-limits"),
        **model.settings(
            ai_model="slow-model", embedding_provider="hashing", ai_max_active_per_user=3
        ),
    )
    async with run_server(settings) as srv:
        yield srv


async def _project(client: httpx.AsyncClient, owner: Account) -> str:
    r = await client.post("/api/projects", json={"name": "Limits"}, headers=bearer(owner))
    pid: str = r.json()["id"]
    return pid


async def _generate(client: httpx.AsyncClient, who: Account, pid: str, n: int) -> httpx.Response:
    return await client.post(
        f"/api/projects/{pid}/phases/{n}/generate", json={}, headers=bearer(who)
    )


async def _cancel(client: httpx.AsyncClient, who: Account, pid: str, gid: str) -> None:
    r = await client.post(f"/api/projects/{pid}/generations/{gid}/cancel", headers=bearer(who))
    assert r.status_code == 200, r.text


async def test_one_user_streams_at_most_three_generations(
    ai: RunningServer, model: OpenAIServer
) -> None:
    model.script(**SLOW)
    async with ai.client() as client:
        owner = await make_account(client)
        first, second = await _project(client, owner), await _project(client, owner)
        targets = [(first, 1), (first, 2), (first, 3), (second, 1), (second, 2), (second, 3)]
        answers = await asyncio.gather(*(_generate(client, owner, p, n) for p, n in targets))
        accepted = [
            (t, r.json()["id"])
            for t, r in zip(targets, answers, strict=True)
            if r.status_code == 202
        ]
        refused = [r for r in answers if r.status_code != 202]
        assert len(accepted) == 3, [r.status_code for r in answers]
        assert {r.status_code for r in refused} == {429}
        body = refused[0].json()
        assert body["error"]["code"] == "rate_limited" and "3" in body["error"]["message"]
        assert int(refused[0].headers["retry-after"]) >= 1

        # The limit is the user's: another editor of the same project is not affected.
        editor = await add_member(client, owner, first, "editor")
        r = await _generate(client, editor, first, 4)
        assert r.status_code == 202, r.text
        # One of the owner's ends: a slot is free again.
        (pid, _), gid = accepted[0]
        await _cancel(client, owner, pid, gid)
        free = next(t for t in targets if t not in [a[0] for a in accepted])
        r = await _generate(client, owner, *free)
        assert r.status_code == 202, r.text
        assert (await _generate(client, owner, *free[:1], 9)).status_code == 429

        running = [(p, g) for (p, _), g in accepted[1:]] + [(free[0], r.json()["id"])]
        for pid, gid in running:
            await _cancel(client, owner, pid, gid)


def _board(meta: YClient) -> dict[str, Any]:
    return dict(meta.doc.get("generations", type=Map).to_py() or {})


async def test_meta_document_shows_each_generation_live(
    ai: RunningServer, model: OpenAIServer
) -> None:
    model.script(tokens=[f"t{i} " for i in range(40)], delay_s=0.03)
    async with ai.client() as client:
        owner = await make_account(client)
        pid = await _project(client, owner)
        async with yclient(ai.ws_url, f"projects/{pid}/meta", owner.access_token) as meta:
            r = await _generate(client, owner, pid, 2)
            assert r.status_code == 202, r.text
            gid = r.json()["id"]
            await meta.wait_until(lambda: _board(meta).get(gid, {}).get("status") == "streaming")
            entry = _board(meta)[gid]
            assert entry["phase"] == 2 and entry["model"] == "slow-model"
            assert entry["started_by"] == owner.id and entry["started_at"]
            assert entry["finished_at"] is None and entry["error"] is None
            await meta.wait_until(lambda: _board(meta)[gid]["status"] == "done", timeout=15)
            assert _board(meta)[gid]["finished_at"]

            model.script(**SLOW)
            r = await _generate(client, owner, pid, 3)
            cancelled = r.json()["id"]
            await meta.wait_until(lambda: cancelled in _board(meta))
            await _cancel(client, owner, pid, cancelled)
            await meta.wait_until(lambda: _board(meta)[cancelled]["status"] == "cancelled")
            assert _board(meta)[gid]["status"] == "done"  # one entry per generation
