"""Editors that type on every node, and whether (and when) their documents converged."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from websockets.exceptions import ConnectionClosed

from tests.faults.cluster import Cluster, paragraph_texts
from tests.yclient import YClient, yclient

WRITTEN = re.compile(r"n(\d+)-\d+")  # what editor n writes


@dataclass(eq=False)
class Editor:
    """A y-websocket client on one node that appends `n{node}-{i}` paragraphs."""

    node: int
    client: YClient
    written: list[str] = field(default_factory=list)
    initial: list[str] = field(default_factory=list)  # paragraphs it found on joining

    @property
    def lost(self) -> str | None:
        """Why the node closed this client's socket, if it did."""
        if not self.client.closed.done():
            return None
        code, reason = self.client.closed.result()
        return f"socket closed by the node: {code} {reason}".strip()

    def texts(self) -> list[str]:
        return paragraph_texts(self.client.content)

    async def type(self, typing: asyncio.Event, interval: float) -> None:
        while not self.client.closed.done():
            await typing.wait()
            text = f"n{self.node}-{len(self.written)}"
            self.written.append(text)  # in the local document from here on
            with contextlib.suppress(ConnectionClosed):
                await self.client.add_paragraph(text)
            await asyncio.sleep(interval)


@dataclass
class Editors:
    all: list[Editor]
    typing: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        self.typing.set()

    def stop(self) -> None:
        self.typing.clear()

    async def wait_connected(self, timeout: float = 10) -> None:
        """Until every editor has seen a paragraph from every other node."""
        nodes = {e.node for e in self.all}

        def heard_all() -> bool:
            return all(
                {int(m[1]) for t in e.texts() if (m := WRITTEN.fullmatch(t))} >= nodes - {e.node}
                for e in self.all
            )

        async with asyncio.timeout(timeout):
            while not heard_all():
                await asyncio.sleep(0.05)


@asynccontextmanager
async def open_editors(
    cluster: Cluster, document: str, token: str, *, interval: float = 0.08
) -> AsyncIterator[Editors]:
    """One editor per node on `document`; they type while `Editors.typing` is set."""
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(yclient(cluster.ws(node), document, token))
            for node in range(cluster.size)
        ]
        editors = Editors(
            [
                Editor(node, client, initial=paragraph_texts(client.content))
                for node, client in enumerate(clients)
            ]
        )
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(e.type(editors.typing, interval)) for e in editors.all]
            try:
                yield editors
            finally:
                for task in tasks:
                    task.cancel()


@dataclass(frozen=True)
class Divergence:
    """How the editors' documents differ from the union of everything written."""

    expected: int
    missing: dict[int, list[str]]  # node -> paragraphs its client lacks
    extra: dict[int, list[str]]  # node -> paragraphs nobody wrote, or duplicated
    orders: int  # distinct paragraph orders among the clients
    lost: dict[int, str]  # node -> why its client's socket closed

    @property
    def converged(self) -> bool:
        return not (self.missing or self.extra or self.lost) and self.orders == 1

    def __str__(self) -> str:
        if self.converged:
            return f"converged on {self.expected} paragraphs"
        parts = [f"{self.expected} paragraphs written"]
        for node, missing in sorted(self.missing.items()):
            by_writer = Counter(text.split("-")[0] for text in missing)
            first = sorted(missing, key=_order)[0]
            parts.append(f"node{node} lacks {len(missing)} ({dict(by_writer)}, first {first})")
        for node, extra in sorted(self.extra.items()):
            parts.append(f"node{node} has {len(extra)} unexpected, e.g. {extra[:3]}")
        for node, why in sorted(self.lost.items()):
            parts.append(f"node{node}'s client lost: {why}")
        if self.orders > 1 and not self.missing:
            parts.append(f"{self.orders} different orders")
        return "; ".join(parts)


def _order(text: str) -> tuple[str, int]:
    writer, _, index = text.partition("-")
    return writer, int(index) if index.isdigit() else -1


def divergence(editors: list[Editor]) -> Divergence:
    expected = Counter(text for e in editors for text in e.written)
    expected |= Counter(text for e in editors for text in e.initial)  # the same for everyone
    missing: dict[int, list[str]] = {}
    extra: dict[int, list[str]] = {}
    for e in editors:
        have = Counter(e.texts())
        if lacks := list((expected - have).elements()):
            missing[e.node] = lacks
        if surplus := list((have - expected).elements()):
            extra[e.node] = surplus
    orders = len({tuple(e.texts()) for e in editors})
    lost = {e.node: e.lost for e in editors if e.lost is not None}
    return Divergence(sum(expected.values()), missing, extra, orders, lost)


def converged(editors: list[Editor]) -> bool:
    return divergence(editors).converged


async def time_to_converge(editors: list[Editor], since: float, give_up: float) -> float | None:
    """Seconds from `since` (time.monotonic) until every editor converged, polled every 50 ms;
    None if they had not `give_up` seconds after `since`."""
    while not converged(editors):
        if time.monotonic() - since > give_up:
            return None
        await asyncio.sleep(0.05)
    return time.monotonic() - since
