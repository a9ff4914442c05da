"""Postgres goes away under two `ua serve` nodes: editing goes on, nothing is lost or lied about.

While the database is down, loaded rooms keep syncing (same node and across nodes through
Redis); accepted updates wait in the journal's queue, bounded by bytes; Hocuspocus clients get
no "saved" until their update is committed; /readyz and REST calls that need the database
answer 503 promptly. When it returns, the queue is written in order. Past the byte bound,
a socket is closed with 1013 and its client's edits come back when it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pycrdt import Doc, XmlFragment
from websockets.exceptions import ConnectionClosed

from collab.protocol import ywire
from storage.repos.documents import PostgresUpdateLog
from tests.hclient import HClient, HDoc, hclient
from tests.pgfault import PgFault, private_postgres
from tests.support import (
    Account,
    bearer,
    make_account,
    ua_cluster,
    wait_ready,
)
from tests.yclient import YClient, yclient

OUTAGE_S = 30.0  # how long Postgres stays down in the first test
TICK_S = 0.2  # each live client adds a paragraph this often
LIVE_S = 3.0  # a paragraph reaches the other client within this, database or not
PROMPT_S = 5.0  # a request answers within this during the outage
RECOVER_S = 15.0  # after the database returns: all saved, ready, stored
QUEUE_BYTES = 20_000  # JOURNAL_QUEUE_BYTES of the second test's nodes
PARAGRAPH = "x" * 1000  # the second test's paragraphs: the bound is passed in ~20 of them


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgFault]:
    log = tmp_path_factory.mktemp("pgfault") / "postgres.log"
    with private_postgres(keep_log=log) as pg:
        yield pg


@pytest.fixture
async def database(postgres: PgFault) -> str:
    """A new database on the private cluster (each test its own; the cluster goes with them)."""
    if not await asyncio.to_thread(lambda: postgres.running):
        await asyncio.to_thread(postgres.start)  # a failed test left it stopped
    name = f"outage_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(postgres.dsn, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return postgres.dsn_for(name)


def http_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def ws_url(port: int) -> str:
    return f"ws://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def nodes(
    dsn: str, redis: str, tmp: Path, count: int, **env: str
) -> AsyncIterator[list[int]]:
    """`count` `ua serve` processes on one database and one Redis; logs in tmp/node{i}.log."""
    async with ua_cluster(dsn, redis, tmp, count, **env) as (ports, _, _):
        yield ports


@contextlib.asynccontextmanager
async def outage(pg: PgFault) -> AsyncIterator[None]:
    """Postgres is stopped inside the block and running again after it, even if it fails."""
    await asyncio.to_thread(pg.stop)
    try:
        yield
    finally:
        await asyncio.to_thread(pg.start)


async def _project(port: int) -> tuple[Account, str]:
    async with httpx.AsyncClient(base_url=http_url(port), timeout=30) as http:
        owner = await make_account(http)
        r = await http.post("/api/projects", json={"name": "Outage"}, headers=bearer(owner))
        assert r.status_code == 201, r.text
        return owner, r.json()["id"]


_TEXT = re.compile(r">([^<]*)<")


def texts(paragraphs: list[str]) -> set[str]:
    """The text of each `<paragraph>text</paragraph>`."""
    return {m.group(1) for p in paragraphs for m in _TEXT.finditer(p)}


async def stored_paragraphs(dsn: str, name: str) -> list[str]:
    """The document as Postgres holds it: snapshot and log applied in order."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1, timeout=5)
    try:
        stored = await PostgresUpdateLog(pool).load(name)
    finally:
        await pool.close()
    doc: Doc[Any] = Doc()
    for update in ([stored.snapshot] if stored.snapshot else []) + stored.updates:
        doc.apply_update(update)
    fragment = doc.get("content", type=XmlFragment)
    return [str(child) for child in fragment.children]


async def wait_stored(dsn: str, name: str, expected: list[str], timeout: float) -> None:
    stored: list[str] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while (stored := await stored_paragraphs(dsn, name)) != expected:
                await asyncio.sleep(0.2)
    missing = texts(expected) - texts(stored)
    assert stored == expected, (
        f"stored {len(stored)} paragraphs, live {len(expected)}; missing {sorted(missing)[:10]}"
    )


async def waited(wait: Awaitable[object], message: Callable[[], str]) -> None:
    """Await `wait` (a wait with a deadline); on its deadline, fail with `message()`."""
    try:
        await wait
    except TimeoutError:
        pytest.fail(message())


async def assert_unavailable(port: int, owner: Account) -> None:
    """/readyz and a REST call needing the database answer 503, promptly, in their shapes."""
    async with httpx.AsyncClient(base_url=http_url(port), timeout=PROMPT_S) as http:
        for path, headers in (("/readyz", {}), ("/api/projects", bearer(owner))):
            started = time.monotonic()
            try:
                r = await http.get(path, headers=headers)
            except httpx.TimeoutException:
                pytest.fail(f"node {port}: GET {path} did not answer within {PROMPT_S} s")
            assert r.status_code == 503, f"node {port}: GET {path}: {r.status_code} {r.text}"
            assert time.monotonic() - started < PROMPT_S
            body = r.json()
            if path == "/readyz":
                assert body["status"] == "unavailable", body
                assert body["checks"]["database"] != "ok", body
            else:
                assert body["error"]["code"] == "unavailable", body
                assert body["error"]["message"], body


@dataclass
class Editors:
    """A y-websocket client (node 0) and a Hocuspocus client (node 1) on one document."""

    name: str
    a: YClient
    h: HClient
    b: HDoc
    sent_a: list[str] = field(default_factory=list)
    sent_b: list[str] = field(default_factory=list)

    async def write_both(self, tag: str) -> None:
        self.sent_a.append(f"a-{tag}{len(self.sent_a):03d}")
        await self.a.add_paragraph(self.sent_a[-1])
        self.sent_b.append(f"b-{tag}{len(self.sent_b):03d}")
        await self.h.add_paragraph(self.name, self.sent_b[-1])

    async def each_sees_the_other(self, timeout: float = LIVE_S) -> None:
        def lacks(paragraphs: list[str], sent: list[str]) -> str:
            missing = set(sent) - texts(paragraphs)
            return f"{len(missing)} missing, e.g. {sorted(missing)[:5]}"

        await waited(
            self.a.wait_until(lambda: texts(self.a.paragraphs()) >= set(self.sent_b), timeout),
            lambda: (
                f"y-websocket client (node 0) lacks b's paragraphs: {lacks(self.a.paragraphs(), self.sent_b)}"
            ),
        )
        await waited(
            self.h.wait_until(lambda: texts(self.b.paragraphs()) >= set(self.sent_a), timeout),
            lambda: (
                f"Hocuspocus client (node 1) lacks a's paragraphs: {lacks(self.b.paragraphs(), self.sent_a)}"
            ),
        )


async def edit_through_outage(e: Editors, ports: list[int], owner: Account, saved: int) -> None:
    """Both clients write every TICK_S for OUTAGE_S, seeing each other; nothing is "saved"."""
    started = time.monotonic()
    probes = [started + 1.0, started + OUTAGE_S - 4.0]  # early and late in the outage
    while time.monotonic() - started < OUTAGE_S:
        await e.write_both("during")
        if len(e.sent_a) % 25 == 0:
            await e.each_sees_the_other()
            assert e.b.saved == saved, (
                f"'saved' grew to {e.b.saved} from {saved} without a database"
            )
        if probes and time.monotonic() >= probes[0]:
            probes.pop(0)
            for port in ports:
                await assert_unavailable(port, owner)
        await asyncio.sleep(TICK_S)  # the editing pace, not a wait for something
    await e.each_sees_the_other()
    assert e.b.saved == saved, f"'saved' grew to {e.b.saved} from {saved} without a database"


async def test_outage_editing_goes_on_and_is_written_when_the_database_returns(
    postgres: PgFault, database: str, redis_url: str, tmp_path: Path
) -> None:
    async with nodes(database, redis_url, tmp_path, 2) as ports:
        owner, pid = await _project(ports[0])
        name = f"projects/{pid}/phases/1"
        token = owner.access_token
        async with yclient(ws_url(ports[0]), name, token) as a, hclient(ws_url(ports[1])) as h:
            e = Editors(name, a, h, await h.open(name, token))
            await e.write_both("before")
            await e.each_sees_the_other()
            # One ack for the provider's answer to the server's SyncStep1, one for its paragraph.
            await waited(
                h.wait_until(lambda: e.b.saved >= 2, RECOVER_S),
                lambda: f"no 'saved' with the database up: saved={e.b.saved} unsaved={e.b.unsaved}",
            )
            saved = e.b.saved
            before = len(e.sent_b)
            async with outage(postgres):
                await edit_through_outage(e, ports, owner, saved)
            back = time.monotonic()
            during = len(e.sent_b) - before
            await waited(
                h.wait_until(lambda: e.b.saved >= saved + during, RECOVER_S),
                lambda: (
                    f"'saved' {e.b.saved} of {saved + during} {RECOVER_S} s after the database returned"
                ),
            )
            assert e.b.saved == saved + during, (e.b.saved, saved, during)
            print(f"{during} 'saved' caught up in {time.monotonic() - back:.1f} s")
            async with asyncio.timeout(RECOVER_S):
                for port in ports:
                    await wait_ready(http_url(port))
            live = a.paragraphs()
            assert live == e.b.paragraphs()
            assert texts(live) == set(e.sent_a) | set(e.sent_b)
            await wait_stored(database, name, live, max(1.0, RECOVER_S - (time.monotonic() - back)))
            print(f"ready, all {len(live)} stored, in {time.monotonic() - back:.1f} s")
        # A node that starts now loads it all from Postgres, in the same order.
        (tmp_path / "fresh").mkdir()
        async with (
            nodes(database, redis_url, tmp_path / "fresh", 1) as (fresh,),
            yclient(ws_url(fresh), name, token) as late,
        ):
            assert late.paragraphs() == live


async def test_past_the_queue_bound_edits_are_refused_then_resent_not_lost(
    postgres: PgFault, database: str, redis_url: str, tmp_path: Path
) -> None:
    env = {"JOURNAL_QUEUE_BYTES": str(QUEUE_BYTES)}
    async with nodes(database, redis_url, tmp_path, 2, **env) as ports:
        owner, pid = await _project(ports[0])
        name = f"projects/{pid}/phases/2"
        token = owner.access_token
        async with yclient(ws_url(ports[1]), name, token) as watcher:
            async with yclient(ws_url(ports[0]), name, token) as writer:
                await writer.add_paragraph("before")
                await watcher.wait_until(lambda: len(watcher.paragraphs()) == 1)
                async with outage(postgres):
                    sent = await write_until_closed(writer)
                    code, reason = writer.closed.result()
                    assert code == 1013, (code, reason)
                    assert reason, "a 1013 close says why"
                    assert sent <= 1.5 * QUEUE_BYTES, (
                        f"wrote {sent} bytes past a {QUEUE_BYTES} bound"
                    )
                state = writer.doc.get_update()
                written = writer.paragraphs()
            # What the server accepted during the outage (the watcher got it): the bound and at
            # most one paragraph more.
            accepted = sum(len(t) for t in texts(watcher.paragraphs()) if t.startswith("w"))
            assert accepted <= QUEUE_BYTES + len(PARAGRAPH), f"{accepted} bytes accepted"
            # The provider reconnects and syncs its whole state, refused edits included; the
            # server may refuse it (1013) until its queue has drained, and it tries again.
            attempts = await reconnect_until_accepted(
                ws_url(ports[0]), name, token, state, texts(written), watcher
            )
            print(f"refused edits back after {attempts} reconnect(s)")
            assert texts(watcher.paragraphs()) == texts(written)
            await wait_stored(database, name, watcher.paragraphs(), RECOVER_S)


async def reconnect_until_accepted(
    base_ws: str, name: str, token: str, state: bytes, want: set[str], watcher: YClient
) -> int:
    """As a Yjs provider: reconnect with the whole state and sync; after a 1013 close, back
    off and reconnect; done when the watcher shows all of it. Returns the attempts made."""
    attempts = 0
    try:
        async with asyncio.timeout(RECOVER_S):
            while not await _resync(base_ws, name, token, state, want, watcher):
                attempts += 1
                await asyncio.sleep(0.2)  # the provider's back-off
    except TimeoutError:
        pytest.fail(
            f"refused for {RECOVER_S} s ({attempts} reconnects) after the database returned"
        )
    return attempts + 1


async def _resync(
    base_ws: str, name: str, token: str, state: bytes, want: set[str], watcher: YClient
) -> bool:
    """One connection: True once the watcher has it all, False if the server closed it 1013."""
    async with yclient(base_ws, name, token, sync=False) as back:
        back.doc.apply_update(state)  # before any frame is read: it is the provider's doc
        await back.send(ywire.SyncStep1(back.doc.get_state()))
        synced = asyncio.ensure_future(
            watcher.wait_until(lambda: texts(watcher.paragraphs()) >= want, RECOVER_S)
        )
        either: list[asyncio.Future[Any]] = [synced, back.closed]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if synced.done():
            await synced
            return True
        synced.cancel()
        code, reason = back.closed.result()
        assert code == 1013, f"reconnect closed with {code} {reason!r}"
        return False


async def write_until_closed(writer: YClient) -> int:
    """Paragraphs of PARAGRAPH bytes, each once the previous had a moment to be refused;
    the bytes written when the server closed the socket."""
    sent = 0
    while not writer.closed.done() and sent < 4 * QUEUE_BYTES:
        try:
            await writer.add_paragraph(f"w{sent // len(PARAGRAPH):03d}{PARAGRAPH}")
        except ConnectionClosed:  # closed under us: the close code is what the test checks
            break
        sent += len(PARAGRAPH)
        await asyncio.wait([writer.closed], timeout=0.05)
    await waited(
        asyncio.wait_for(asyncio.shield(writer.closed), PROMPT_S),
        lambda: f"still open after {sent} bytes with a {QUEUE_BYTES}-byte journal queue",
    )
    return sent
