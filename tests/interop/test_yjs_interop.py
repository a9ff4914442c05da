"""Real Node clients (`y-websocket`, `@hocuspocus/provider`) against the real server.

Each test uses its own project, so rooms never leak between tests. Every wait is a condition
with a deadline, evaluated in the driver (see `driver.mjs`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.interop.client import Driver, missing_requirements
from tests.support import (
    Account,
    RunningServer,
    bearer,
    fresh_database,
    make_account,
    run_server,
    settings_for,
)

SKIP_REASON = missing_requirements()
pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")

PROTOCOLS = ("yjs", "hocuspocus")
SYNC_MS = 10_000
SHORT_MS = 5_000


def other(protocol: str) -> str:
    return "hocuspocus" if protocol == "yjs" else "yjs"


@dataclass
class Team:
    """A project on a running server, with its owner and the URLs of both endpoints."""

    server: RunningServer
    http: httpx.AsyncClient
    project_id: str
    owner: Account

    def phase(self, n: int) -> str:
        return f"projects/{self.project_id}/phases/{n}"

    @property
    def meta(self) -> str:
        return f"projects/{self.project_id}/meta"

    def url(self, protocol: str) -> str:
        path = "/yjs" if protocol == "yjs" else "/collab"
        return f"{self.server.ws_url}{path}"

    async def member(self, role: str) -> Account:
        account = await make_account(self.http)
        r = await self.http.post(
            f"/api/projects/{self.project_id}/invitations",
            json={"email": account.email, "role": role},
            headers=bearer(self.owner),
        )
        assert r.status_code == 201, r.text
        r = await self.http.post(
            f"/api/invitations/{r.json()['token']}/accept", headers=bearer(account)
        )
        assert r.status_code == 200, r.text
        return account

    async def connect(
        self,
        driver: Driver,
        client: str,
        protocol: str,
        document: str,
        token: str | None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        return await driver.connect(
            client,
            protocol=protocol,
            url=self.url(protocol),
            document=document,
            token=token,
            **kwargs,
        )


async def new_team(server: RunningServer, http: httpx.AsyncClient) -> Team:
    owner = await make_account(http)
    r = await http.post("/api/projects", json={"name": "Interop"}, headers=bearer(owner))
    assert r.status_code == 201, r.text
    return Team(server, http, str(r.json()["id"]), owner)


@pytest.fixture
async def team(server: RunningServer, client: httpx.AsyncClient) -> Team:
    return await new_team(server, client)


@pytest.fixture
async def driver() -> AsyncIterator[Driver]:
    async with Driver() as d:
        yield d


async def insert(driver: Driver, client: str, text: str, index: int | None = None) -> None:
    params: dict[str, Any] = {"client": client, "text": text}
    if index is not None:
        params["index"] = index
    await driver.call("insertParagraph", **params)


async def wait_paragraphs(
    driver: Driver, client: str, count: int, timeout_ms: int = SYNC_MS
) -> list[str]:
    result = await driver.call("waitFor", client=client, paragraphs=count, timeoutMs=timeout_ms)
    return list(result["paragraphs"])


async def wait_saved(driver: Driver, client: str, timeout_ms: int = SYNC_MS) -> None:
    """A Hocuspocus client's edits are all acknowledged (committed) by the server."""
    await driver.call(
        "waitStatus", client=client, match={"unsyncedChanges": 0}, timeoutMs=timeout_ms
    )


async def test_concurrent_edits_over_both_protocols_converge(team: Team, driver: Driver) -> None:
    editor = await team.member("editor")
    await team.connect(driver, "y", "yjs", team.phase(1), team.owner.access_token)
    await team.connect(driver, "h", "hocuspocus", team.phase(1), editor.access_token)

    async def write(client: str) -> None:
        for i in range(10):
            # Alternate appends and inserts at the top so concurrent inserts really conflict.
            await insert(driver, client, f"{client}-{i}", index=0 if i % 2 else None)

    await asyncio.gather(write("y"), write("h"))

    y_view = await wait_paragraphs(driver, "y", 20)
    h_view = await wait_paragraphs(driver, "h", 20)
    assert y_view == h_view
    assert sorted(y_view) == sorted(f"{c}-{i}" for c in ("y", "h") for i in range(10))
    await wait_saved(driver, "h")


@pytest.mark.parametrize("joiner", PROTOCOLS)
async def test_late_joiner_gets_whole_state(team: Team, driver: Driver, joiner: str) -> None:
    writer = other(joiner)
    await team.connect(driver, "writer", writer, team.phase(3), team.owner.access_token)
    texts = [f"early {i}" for i in range(5)]
    for text in texts:
        await insert(driver, "writer", text)

    # The writer is still connected: the joiner gets the live room's state.
    await team.connect(driver, "late", joiner, team.phase(3), team.owner.access_token)
    assert await wait_paragraphs(driver, "late", 5) == texts

    # Nobody is connected and the room may be unloaded: the state comes back from storage.
    await driver.call("disconnect", client="writer")
    await driver.call("disconnect", client="late")
    await team.connect(driver, "later", writer, team.phase(3), team.owner.access_token)
    assert await wait_paragraphs(driver, "later", 5) == texts


async def test_two_documents_share_one_hocuspocus_socket(team: Team, driver: Driver) -> None:
    token = team.owner.access_token
    await team.connect(driver, "one", "hocuspocus", team.phase(1), token, socket="shared")
    await team.connect(driver, "two", "hocuspocus", team.phase(2), token, socket="shared")
    await team.connect(driver, "watch1", "yjs", team.phase(1), token)
    await team.connect(driver, "watch2", "yjs", team.phase(2), token)

    for i in range(3):
        await insert(driver, "one", f"phase one {i}")
    await insert(driver, "two", "phase two")
    await insert(driver, "watch2", "from watcher two")

    assert await wait_paragraphs(driver, "watch1", 3) == [f"phase one {i}" for i in range(3)]
    assert sorted(await wait_paragraphs(driver, "watch2", 2)) == [
        "from watcher two",
        "phase two",
    ]
    assert sorted(await wait_paragraphs(driver, "two", 2)) == ["from watcher two", "phase two"]
    assert await driver.paragraphs("one") == [f"phase one {i}" for i in range(3)]
    await wait_saved(driver, "one")
    await wait_saved(driver, "two")
    for client in ("one", "two"):
        status = await driver.status(client)
        assert status["authenticated"] and status["scope"] == "read-write", status


async def test_viewer_edits_are_not_applied(team: Team, driver: Driver) -> None:
    viewer = await team.member("viewer")
    doc = team.phase(4)
    await team.connect(driver, "editor", "hocuspocus", doc, team.owner.access_token)
    await insert(driver, "editor", "base")
    await wait_saved(driver, "editor")

    await team.connect(driver, "vh", "hocuspocus", doc, viewer.access_token)
    await team.connect(driver, "vy", "yjs", doc, viewer.access_token)
    assert (await driver.status("vh"))["scope"] == "readonly"
    assert await wait_paragraphs(driver, "vh", 1) == ["base"]
    assert await wait_paragraphs(driver, "vy", 1) == ["base"]

    await insert(driver, "vh", "viewer over hocuspocus")
    await insert(driver, "vy", "viewer over y-websocket")
    # Barrier: awareness follows each viewer's edit on the same socket, so once the editor sees
    # both awareness states, the server has already handled (and dropped) both edits.
    await driver.call("setAwareness", client="vh", state={"barrier": "vh"})
    await driver.call("setAwareness", client="vy", state={"barrier": "vy"})
    for name in ("vh", "vy"):
        await driver.call(
            "waitAwareness", client="editor", match={"barrier": name}, timeoutMs=SYNC_MS
        )
    await insert(driver, "editor", "after")
    await wait_saved(driver, "editor")

    assert await wait_paragraphs(driver, "editor", 2) == ["base", "after"]
    await driver.call("waitFor", client="vy", contains="after", timeoutMs=SYNC_MS)
    assert "viewer over hocuspocus" not in await driver.paragraphs("vy")
    await driver.call("waitFor", client="vh", contains="after", timeoutMs=SYNC_MS)
    assert "viewer over y-websocket" not in await driver.paragraphs("vh")

    for protocol in PROTOCOLS:
        fresh = f"fresh-{protocol}"
        await team.connect(driver, fresh, protocol, doc, team.owner.access_token)
        assert await wait_paragraphs(driver, fresh, 2) == ["base", "after"]


async def test_meta_document_is_read_only_for_the_owner(team: Team, driver: Driver) -> None:
    await team.connect(driver, "meta", "hocuspocus", team.meta, team.owner.access_token)
    assert (await driver.status("meta"))["scope"] == "readonly"


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("who", ["garbage", "missing", "stranger"])
async def test_refused_tokens(team: Team, driver: Driver, protocol: str, who: str) -> None:
    token: str | None
    if who == "stranger":
        token = (await make_account(team.http)).access_token
    elif who == "garbage":
        token = "not-a-jwt." + uuid.uuid4().hex
    else:
        token = None
    await team.connect(driver, "intruder", protocol, team.phase(1), token, synced=False)
    if protocol == "yjs":
        code = 4403 if who == "stranger" else 4401
        status = await driver.call(
            "waitStatus", client="intruder", match={"closeCode": code}, timeoutMs=SHORT_MS
        )
        assert status["closeReason"], status
    else:
        status = await driver.call(
            "waitStatus", client="intruder", match={"permissionDenied": True}, timeoutMs=SHORT_MS
        )
        assert not status["authenticated"], status
    assert not status["synced"], status


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_refused_client_cannot_write(team: Team, driver: Driver, protocol: str) -> None:
    stranger = await make_account(team.http)
    await team.connect(
        driver, "intruder", protocol, team.phase(5), stranger.access_token, synced=False
    )
    await insert(driver, "intruder", "intrusion")
    await team.connect(driver, "owner", "hocuspocus", team.phase(5), team.owner.access_token)
    await insert(driver, "owner", "legit")
    await wait_saved(driver, "owner")
    await team.connect(driver, "fresh", other(protocol), team.phase(5), team.owner.access_token)
    assert await wait_paragraphs(driver, "fresh", 1) == ["legit"]
    assert await driver.paragraphs("intruder") == ["intrusion"]


async def test_edits_survive_a_restart(tmp_path: Path) -> None:
    texts = {"yjs": [f"y {i}" for i in range(5)], "hocuspocus": [f"h {i}" for i in range(5)]}
    async with fresh_database() as dsn:
        settings = settings_for(dsn, tmp_path / "data")
        async with run_server(settings) as server, server.client() as http, Driver() as driver:
            team = await new_team(server, http)
            for protocol in PROTOCOLS:
                await team.connect(
                    driver, protocol, protocol, team.phase(6), team.owner.access_token
                )
            for protocol in PROTOCOLS:
                for text in texts[protocol]:
                    await insert(driver, protocol, text)
            # Both clients see all ten: the server holds every edit. Then everyone leaves and the
            # server stops at once (no idle unload), so the shutdown must flush.
            await wait_paragraphs(driver, "yjs", 10)
            await wait_paragraphs(driver, "hocuspocus", 10)
            await wait_saved(driver, "hocuspocus")
            expected = await driver.paragraphs("yjs")
            project_id, owner = team.project_id, team.owner

        async with run_server(settings) as server, server.client() as http, Driver() as driver:
            team = Team(server, http, project_id, owner)
            for protocol in PROTOCOLS:
                await team.connect(driver, protocol, protocol, team.phase(6), owner.access_token)
                assert await wait_paragraphs(driver, protocol, 10) == expected


@pytest.mark.parametrize(
    ("a", "b", "abrupt"),
    [
        ("yjs", "hocuspocus", False),
        ("hocuspocus", "yjs", False),
        ("yjs", "hocuspocus", True),
        ("hocuspocus", "yjs", True),
    ],
)
async def test_awareness_appears_and_disappears(
    team: Team, driver: Driver, a: str, b: str, abrupt: bool
) -> None:
    member = await team.member("editor")
    doc = team.phase(7)
    a_id = (await team.connect(driver, "a", a, doc, team.owner.access_token))["clientId"]
    await team.connect(driver, "b", b, doc, member.access_token)

    state = {"user": {"name": "Ada", "color": "#ff0000"}, "cursor": None}
    await driver.call("setAwareness", client="a", state=state)
    seen = await driver.call("waitAwareness", client="b", match=state, timeoutMs=SHORT_MS)
    assert {"clientId": a_id, "state": state} in seen["states"]

    # A client that joins later is told about A too (the server answers with the room's states).
    await team.connect(driver, "c", b, doc, member.access_token)
    await driver.call("waitAwareness", client="c", match=state, timeoutMs=SHORT_MS)

    await driver.call("disconnect", client="a", abrupt=abrupt)
    for observer in ("b", "c"):
        await driver.call("waitAwareness", client=observer, without=a_id, timeoutMs=SHORT_MS)


async def test_hocuspocus_unsynced_changes_return_to_zero(team: Team, driver: Driver) -> None:
    await team.connect(driver, "h", "hocuspocus", team.phase(8), team.owner.access_token)
    for i in range(20):
        await insert(driver, "h", f"saved {i}")
    await wait_saved(driver, "h")
    status = await driver.status("h")
    assert status["synced"] and status["unsyncedChanges"] == 0, status
    assert status["maxUnsyncedChanges"] >= 1, status  # the counter did go up meanwhile
    await team.connect(driver, "check", "yjs", team.phase(8), team.owner.access_token)
    assert len(await wait_paragraphs(driver, "check", 20)) == 20
