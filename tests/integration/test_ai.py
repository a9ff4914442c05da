"""AI against a real loopback OpenAI-compatible server: streaming, cancel, RAG, accept."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pycrdt import Map, Text

from collab.content import markdown_to_prosemirror, write_prosemirror
from collab.types import DocumentName, Origin
from server.documents import content_fragment
from tests.openai_server import OpenAIServer
from tests.support import (
    RunningServer,
    add_member,
    bearer,
    eventually,
    make_account,
    new_project,
    run_server,
    settings_for,
    shared_redis_url,
)
from tests.yclient import YClient, yclient


@pytest.fixture(scope="module")
async def model() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer(embedding_dimensions=384) as srv:
        yield srv


def ai_settings(database: str, tmp: Path, model: OpenAIServer, **extra: Any) -> Any:
    return settings_for(database, tmp, **model.settings(ai_max_retries=2, **extra))


@pytest.fixture(scope="module")
async def ai(
    database: str, model: OpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningServer]:
    async with run_server(ai_settings(database, tmp_path_factory.mktemp("ai"), model)) as srv:
        yield srv


def _ai_text(c: YClient) -> str:
    text = c.doc.get("ai", type=Map).get("text")
    return str(text) if isinstance(text, Text) else ""


def _ai_status(c: YClient) -> str | None:
    status = c.doc.get("ai", type=Map).get("status")
    return None if status is None else str(status)


def _write(srv: RunningServer, pid: str, n: int, markdown: str) -> None:
    room = srv.app.state.services.rooms.loaded(f"projects/{pid}/phases/{n}")
    assert room is not None
    content = markdown_to_prosemirror(markdown)
    room.server_change(
        lambda doc: write_prosemirror(content_fragment(doc), content, replace=True), Origin.SERVER
    )


async def _load_and_write(srv: RunningServer, pid: str, n: int, markdown: str) -> None:
    await srv.app.state.services.rooms.get(DocumentName(uuid.UUID(pid), n))
    _write(srv, pid, n, markdown)


async def test_tokens_reach_members_and_sse_in_order(
    ai: RunningServer, model: OpenAIServer
) -> None:
    tokens = [f"tok{i} " for i in range(30)]
    model.script(tokens=tokens, delay_s=0.01)
    async with ai.client() as client:
        owner, pid = await new_project(client, "AI")
        doc = f"projects/{pid}/phases/2"
        async with (
            yclient(ai.ws_url, doc, owner.access_token) as a,
            yclient(ai.ws_url, doc, owner.access_token) as b,
        ):
            seen: list[str] = []
            headers = {**bearer(owner), "accept": "text/event-stream"}
            deltas: list[str] = []
            async with client.stream(
                "POST",
                f"/api/projects/{pid}/phases/2/generate",
                json={"instructions": "go"},
                headers=headers,
            ) as r:
                assert r.headers["content-type"].startswith("text/event-stream")
                async for line in r.aiter_lines():
                    if line.startswith("data: ") and '"delta"' in line:
                        deltas.append(json.loads(line[6:])["delta"])
                        seen.append(_ai_text(a))
                    if line.startswith("event: end"):
                        break
            assert "".join(deltas) == "".join(tokens)
            for c in (a, b):
                await c.wait_until(
                    lambda c=c: _ai_status(c) == "done" and _ai_text(c) == "".join(tokens)
                )
            assert all("".join(tokens).startswith(s) for s in seen)  # always a prefix: in order
        gens = (await client.get(f"/api/projects/{pid}/generations", headers=bearer(owner))).json()
        assert gens[0]["status"] == "done" and gens[0]["completion_tokens"] == 30
        detail = (
            await client.get(
                f"/api/projects/{pid}/generations/{gens[0]['id']}", headers=bearer(owner)
            )
        ).json()
        assert detail["prompt"][0]["role"] == "system" and detail["first_token_at"]


async def test_cancel_stops_upstream_and_keeps_partial(
    ai: RunningServer, model: OpenAIServer
) -> None:
    model.script(tokens=[f"w{i} " for i in range(200)], delay_s=0.05)
    model.disconnects.clear()
    async with ai.client() as client:
        owner, pid = await new_project(client, "AI")
        async with yclient(ai.ws_url, f"projects/{pid}/phases/3", owner.access_token) as a:
            r = await client.post(
                f"/api/projects/{pid}/phases/3/generate", json={}, headers=bearer(owner)
            )
            assert r.status_code == 202
            gid = r.json()["id"]
            await a.wait_until(lambda: len(_ai_text(a)) > 10)
            second = await client.post(
                f"/api/projects/{pid}/phases/3/generate", json={}, headers=bearer(owner)
            )
            assert second.status_code == 409
            r = await client.post(
                f"/api/projects/{pid}/generations/{gid}/cancel", headers=bearer(owner)
            )
            assert r.status_code == 200
            await model.wait_for_disconnect(1.0)
            await a.wait_until(lambda: _ai_status(a) == "cancelled")
            partial = _ai_text(a)
        record = (
            await client.get(f"/api/projects/{pid}/generations/{gid}", headers=bearer(owner))
        ).json()
        assert record["status"] == "cancelled"
        assert record["text"] == partial and partial.startswith("w0 w1")
        # The phase is free again.
        model.script(tokens=["ok"])
        r = await client.post(
            f"/api/projects/{pid}/phases/3/generate", json={}, headers=bearer(owner)
        )
        assert r.status_code == 202


async def test_failures_end_with_error_and_room_keeps_serving(
    ai: RunningServer, model: OpenAIServer
) -> None:
    async with ai.client() as client:
        owner, pid = await new_project(client, "AI")
        async with yclient(ai.ws_url, f"projects/{pid}/phases/4", owner.access_token) as a:
            model.script(fail_status=500, fail_times=10)
            r = await client.post(
                f"/api/projects/{pid}/phases/4/generate", json={}, headers=bearer(owner)
            )
            gid = r.json()["id"]
            await a.wait_until(lambda: _ai_status(a) == "error")
            record = (
                await client.get(f"/api/projects/{pid}/generations/{gid}", headers=bearer(owner))
            ).json()
            assert record["status"] == "error" and record["error"]
            model.script(tokens=["one ", "two ", "three"], break_after=2, delay_s=0.01)
            r = await client.post(
                f"/api/projects/{pid}/phases/4/generate", json={}, headers=bearer(owner)
            )
            await a.wait_until(lambda: _ai_status(a) == "error" and _ai_text(a) == "one two ")
            await a.add_paragraph("still editing")
            await a.wait_until(lambda: True)


async def test_rag_draws_on_dependencies_and_reembeds_only_changes(
    ai: RunningServer, model: OpenAIServer
) -> None:
    async with ai.client() as client:
        owner, pid = await new_project(client, "AI")
        # Phase 3 depends on 1 and 2; phase 5 is not among them.
        await _load_and_write(
            ai, pid, 1, "Our core goal is the falcon migration census along the coast."
        )
        await _load_and_write(ai, pid, 2, "Stakeholders: rangers, birders and the coastal council.")
        await _load_and_write(
            ai, pid, 5, "Requirement: falcon migration tracking with secret radar codes."
        )

        async def indexed() -> bool:
            r = await client.get(
                f"/api/projects/{pid}/search",
                params={"q": "falcon migration", "k": 5},
                headers=bearer(owner),
            )
            return {h["phase"] for h in r.json()} >= {1, 5}

        await eventually(indexed, 15)
        hits = (
            await client.get(
                f"/api/projects/{pid}/search",
                params={"q": "falcon migration census", "k": 3},
                headers=bearer(owner),
            )
        ).json()
        assert (
            hits[0]["phase"] == 1
            and "falcon" in hits[0]["text"]
            and hits[0]["score"] > hits[-1]["score"]
        )

        model.script(tokens=["draft"])
        before = len(model.requests)
        r = await client.post(
            f"/api/projects/{pid}/phases/3/generate",
            json={"instructions": "falcon migration"},
            headers=bearer(owner),
        )
        assert r.status_code == 202

        def chat_requests() -> list[dict[str, Any]]:
            return [q.body for q in model.requests[before:] if q.path == "/v1/chat/completions"]

        async def asked() -> bool:
            return bool(chat_requests())

        await eventually(asked)
        prompt = chat_requests()[0]
        user = prompt["messages"][1]["content"]
        assert "falcon migration census" in user and "secret radar" not in user

        # A long phase, then one paragraph edited: only the chunks containing it are re-embedded.
        paragraphs = [
            f"Paragraph {i} about topic {i} with enough words to fill a chunk. " * 4
            for i in range(20)
        ]
        await _load_and_write(ai, pid, 6, "\n\n".join(paragraphs))

        async def phase6_indexed() -> bool:
            r = await client.get(
                f"/api/projects/{pid}/search",
                params={"q": "Paragraph 19 topic 19", "k": 1},
                headers=bearer(owner),
            )
            return bool(r.json()) and r.json()[0]["phase"] == 6

        await eventually(phase6_indexed, 15)
        index = ai.app.state.services.assistant.index
        total_before = index.embedded_chunks
        assert total_before >= 5
        paragraphs[10] = "Paragraph ten was rewritten entirely by an editor today."
        _write(ai, pid, 6, "\n\n".join(paragraphs))

        async def reembedded() -> bool:
            return index.embedded_chunks > total_before

        await eventually(reembedded, 15)
        await asyncio.sleep(0.5)
        assert 1 <= index.embedded_chunks - total_before <= 2


async def test_accept_turns_markdown_into_nodes(ai: RunningServer, model: OpenAIServer) -> None:
    model.script(tokens=["# Plan\n\n", "Intro text.\n\n", "- first\n", "- second\n"])
    async with ai.client() as client:
        owner, pid = await new_project(client, "AI")
        r = await client.post(
            f"/api/projects/{pid}/phases/7/generate", json={}, headers=bearer(owner)
        )
        gid = r.json()["id"]

        async def done() -> bool:
            got = await client.get(f"/api/projects/{pid}/generations/{gid}", headers=bearer(owner))
            return bool(got.json()["status"] == "done")

        await eventually(done)
        r = await client.post(
            f"/api/projects/{pid}/generations/{gid}/accept",
            json={"mode": "replace"},
            headers=bearer(owner),
        )
        assert r.status_code == 200 and r.json()["accepted_mode"] == "replace"
        content = (await client.get(f"/api/projects/{pid}/phases/7", headers=bearer(owner))).json()[
            "content"
        ]
        kinds = [node["type"] for node in content["prosemirror"]["content"]]
        assert kinds == ["heading", "paragraph", "bulletList"]
        labels = [
            v["label"]
            for v in (
                await client.get(f"/api/projects/{pid}/phases/7/versions", headers=bearer(owner))
            ).json()
        ]
        assert "before AI accept" in labels and "AI accepted (replace)" in labels
        assert any(label.startswith("AI draft") for label in labels)
        r = await client.post(
            f"/api/projects/{pid}/generations/{gid}/accept",
            json={"mode": "sideways"},
            headers=bearer(owner),
        )
        assert r.status_code == 422


async def test_viewer_cannot_generate_and_bad_input(ai: RunningServer) -> None:
    async with ai.client() as client:
        owner, pid = await new_project(client, "AI")
        viewer = await add_member(client, owner, pid, "viewer")
        r = await client.post(
            f"/api/projects/{pid}/phases/1/generate", json={}, headers=bearer(viewer)
        )
        assert r.status_code == 403
        for body in ({"temperature": 3}, {"max_tokens": 0}, {"max_tokens": 10**6}):
            r = await client.post(
                f"/api/projects/{pid}/phases/1/generate", json=body, headers=bearer(owner)
            )
            assert r.status_code == 422, body
        assert (
            await client.post(
                f"/api/projects/{pid}/phases/15/generate", json={}, headers=bearer(owner)
            )
        ).status_code == 404
        r = await client.get(f"/api/projects/{pid}/search", params={"q": ""}, headers=bearer(owner))
        assert r.status_code == 422
        stranger = await make_account(client)
        r = await client.get(
            f"/api/projects/{pid}/search", params={"q": "x"}, headers=bearer(stranger)
        )
        assert r.status_code == 404


async def test_no_model_configured_is_503(client: httpx.AsyncClient) -> None:
    owner, pid = await new_project(client, "AI")
    r = await client.post(f"/api/projects/{pid}/phases/1/generate", json={}, headers=bearer(owner))
    assert r.status_code == 503
    assert "OPENAI_API_KEY" in r.json()["error"]["message"]


async def test_two_nodes_see_tokens_and_cancel_crosses_nodes(
    database: str, model: OpenAIServer, tmp_path: Path
) -> None:
    redis_url = shared_redis_url()
    if redis_url is None:
        pytest.skip("no Redis answers (the scale-out tests start their own)")
    shared = {
        "redis_url": redis_url,
        "redis_prefix": f"ai{uuid.uuid4().hex[:8]}",
        "tasks_in_process": True,
    }
    async with (
        run_server(ai_settings(database, tmp_path / "a", model, **shared)) as node_a,
        run_server(ai_settings(database, tmp_path / "b", model, **shared)) as node_b,
        node_a.client() as client_a,
        node_b.client() as client_b,
    ):
        owner, pid = await new_project(client_a, "AI")
        model.script(tokens=[f"x{i} " for i in range(200)], delay_s=0.05)
        model.disconnects.clear()
        doc = f"projects/{pid}/phases/8"
        async with (
            yclient(node_a.ws_url, doc, owner.access_token) as on_a,
            yclient(node_b.ws_url, doc, owner.access_token) as on_b,
        ):
            r = await client_a.post(
                f"/api/projects/{pid}/phases/8/generate", json={}, headers=bearer(owner)
            )
            gid = r.json()["id"]
            await on_b.wait_until(lambda: len(_ai_text(on_b)) > 12)
            r = await client_b.post(
                f"/api/projects/{pid}/generations/{gid}/cancel", headers=bearer(owner)
            )
            assert r.status_code == 200
            await model.wait_for_disconnect(1.0)
            for c in (on_a, on_b):
                await c.wait_until(lambda c=c: _ai_status(c) == "cancelled")
            await on_b.wait_until(lambda: _ai_text(on_b) == _ai_text(on_a))
