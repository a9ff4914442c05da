"""A cluster of real `ua serve` nodes on one fresh database and a private Redis, one of
them optionally reaching Redis through a TcpProxy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from pycrdt import Doc, XmlElement, XmlFragment

from storage.repos.documents import PostgresUpdateLog
from tests.faults.proxy import TcpProxy
from tests.faults.redis_server import RedisProcess, subscribed_clients
from tests.support import bearer, free_port, fresh_database, make_account, ua_process


def paragraph_texts(fragment: XmlFragment) -> list[str]:
    """The text of each top-level paragraph, in order."""
    return [
        "".join(str(c) for c in child.children) if isinstance(child, XmlElement) else str(child)
        for child in fragment.children
    ]


@dataclass
class Cluster:
    ports: list[int]
    procs: list[asyncio.subprocess.Process]
    redis: RedisProcess
    proxy: TcpProxy | None
    prefix: str
    logs: list[Path]
    dsn: str
    subscribers: int = 0  # subscribed Redis connections once every node was ready

    @property
    def size(self) -> int:
        return len(self.ports)

    def http(self, node: int) -> str:
        return f"http://127.0.0.1:{self.ports[node]}"

    def ws(self, node: int) -> str:
        return f"ws://127.0.0.1:{self.ports[node]}"

    async def new_document(self, node: int = 0) -> tuple[str, str]:
        """A new account owning a new project: (its token, the name of phase 1)."""
        async with httpx.AsyncClient(base_url=self.http(node), timeout=30) as http:
            owner = await make_account(http)
            r = await http.post("/api/projects", json={"name": "Faults"}, headers=bearer(owner))
            r.raise_for_status()
            return owner.access_token, f"projects/{r.json()['id']}/phases/1"

    async def stored(self, document: str) -> list[str]:
        """The paragraphs of `document` as replayed from the log in Postgres."""
        async with asyncpg.create_pool(self.dsn, min_size=1, max_size=1) as pool:
            stored = await PostgresUpdateLog(pool).load(document)
        doc: Doc[Any] = Doc()
        for part in ([stored.snapshot] if stored.snapshot else []) + stored.updates:
            doc.apply_update(part)
        return paragraph_texts(doc.get("content", type=XmlFragment))

    async def wait_subscribed(self, timeout: float = 10) -> bool:
        """Wait until every node's pub/sub reader is subscribed on Redis (as many subscribed
        connections as at start, at least one a node); False on timeout."""
        wanted = max(self.size, self.subscribers)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while await subscribed_clients(self.redis.url) < wanted:
                    await asyncio.sleep(0.02)
                return True
        return False

    def redis_log(self) -> dict[int, Counter[str]]:
        """Per node: the Redis-related log messages, digits blanked, with their counts."""
        summary: dict[int, Counter[str]] = {}
        for node, path in enumerate(self.logs):
            found: Counter[str] = Counter()
            for line in path.read_text(errors="replace").splitlines():
                text = _log_line(line)
                lowered = text.lower()
                if "redis" in lowered or "catch" in lowered or lowered.startswith("error"):
                    found[re.sub(r"\d+(\.\d+)?", "N", text)[:200]] += 1
            summary[node] = found
        return summary

    def describe_logs(self) -> str:
        lines = [f"node logs: {' '.join(str(p) for p in self.logs)}"]
        for node, found in self.redis_log().items():
            lines += [f"  node{node}: {count}x {text}" for text, count in found.most_common(8)]
        return "\n".join(lines)


EXCEPTION = re.compile(r"[\w.]*(Error|Exception|Interrupt)\b")  # a traceback's last line


def _log_line(line: str) -> str:
    """`LEVEL logger: message`; of a traceback, its first line and the exception raised."""
    try:
        record = json.loads(line)
        message = str(record["message"]).strip().splitlines() or [""]
        text = f"{record.get('level')} {record.get('logger')}: {message[0]}"
    except (ValueError, KeyError, TypeError):
        return line
    raised = [m for m in (line.strip(" |") for line in message[1:]) if EXCEPTION.match(m)]
    if raised:
        text += f" ... {raised[-1]}"
    return text


@asynccontextmanager
async def open_cluster(
    tmp: Path, nodes: int = 3, *, proxied: int | None = None, env: dict[str, str] | None = None
) -> AsyncIterator[Cluster]:
    """`nodes` real `ua serve` processes on a fresh database and a private redis-server;
    node `proxied` reaches Redis through a TcpProxy. Ready when every node's reader is
    subscribed. On exit Redis is brought back first, so that the nodes stop cleanly."""
    async with AsyncExitStack() as stack:
        redis = await stack.enter_async_context(RedisProcess())
        dsn = await stack.enter_async_context(fresh_database())
        proxy = None
        if proxied is not None:
            proxy = await stack.enter_async_context(TcpProxy(redis.port))
        prefix = f"f{uuid.uuid4().hex[:10]}"
        base = {"DATABASE_URL": dsn, "REDIS_PREFIX": prefix, "DATA_DIR": str(tmp), **(env or {})}
        envs = [
            {**base, "REDIS_URL": proxy.url if proxy and i == proxied else redis.url}
            for i in range(nodes)
        ]
        ports = [free_port() for _ in range(nodes)]
        logs = [tmp / f"node{i}.log" for i in range(nodes)]
        procs = await _start_nodes(stack, ports, envs, logs)
        stack.push_async_callback(redis.ensure_running)  # runs before the nodes stop
        cluster = Cluster(ports, procs, redis, proxy, prefix, logs, dsn)
        if not await cluster.wait_subscribed(30):
            raise RuntimeError("not every node subscribed on Redis")
        cluster.subscribers = await subscribed_clients(redis.url)
        yield cluster


async def _start_nodes(
    stack: AsyncExitStack, ports: list[int], envs: list[dict[str, str]], logs: list[Path]
) -> list[asyncio.subprocess.Process]:
    # The first node migrates the fresh database alone; the others start together.
    first = await stack.enter_async_context(ua_process(ports[0], envs[0], log=logs[0]))
    async with asyncio.TaskGroup() as group:
        rest = [
            group.create_task(stack.enter_async_context(ua_process(p, e, log=log)))
            for p, e, log in zip(ports[1:], envs[1:], logs[1:], strict=True)
        ]
    return [first, *(task.result() for task in rest)]
