"""Scenarios: edits on every node while faults are injected, then the convergence clock."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tests.faults.cluster import Cluster
from tests.faults.editors import (
    Divergence,
    Editor,
    divergence,
    open_editors,
    time_to_converge,
)


@dataclass
class Timeline:
    """What happened when, for the report."""

    start: float = field(default_factory=time.monotonic)
    events: list[str] = field(default_factory=list)

    def note(self, event: str) -> None:
        self.events.append(f"+{time.monotonic() - self.start:6.2f}s {event}")

    def __str__(self) -> str:
        return "\n".join(self.events)


@dataclass(frozen=True)
class Outcome:
    converged_after: float | None  # seconds from the end of the last fault; None: never
    settled_after: float | None  # seconds from the editors' last paragraph; None: never
    divergence: Divergence  # as it was when the editors converged, or when we gave up
    timeline: Timeline
    written: int
    unstored: list[str]  # written, but not in the log in Postgres after the wait


Faults = Callable[[Timeline], Awaitable[float]]  # inject faults; return when the last ended


async def under_edits(
    cluster: Cluster,
    faults: Faults,
    *,
    after: float = 1.0,
    give_up: float = 10.0,
    document: tuple[str, str] | None = None,
) -> Outcome:
    """An editor on every node types on a fresh document (or `document`: a token and a
    name, from `Cluster.new_document`) while `faults` run, and `after` seconds more; then
    wait (up to `give_up` s from the last fault's end) for convergence."""
    token, name = document or await cluster.new_document()
    async with open_editors(cluster, name, token) as editors:
        timeline = Timeline()
        editors.start()
        await editors.wait_connected()
        timeline.note("every editor hears every node")
        fault_end = await faults(timeline)
        await asyncio.sleep(after)
        editors.stop()
        stopped = time.monotonic()
        timeline.note("editors stopped")
        took = await time_to_converge(editors.all, fault_end, give_up)
        settled = None if took is None else fault_end + took - stopped
        state = divergence(editors.all)
        timeline.note(f"converged after {took:.2f}s" if took is not None else f"gave up: {state}")
        unstored = await _unstored(cluster, name, editors.all)
        if unstored:
            timeline.note(f"{len(unstored)} paragraphs not in Postgres, e.g. {unstored[:3]}")
        return Outcome(took, settled, state, timeline, state.expected, unstored)


async def _unstored(cluster: Cluster, document: str, editors: list[Editor]) -> list[str]:
    """What was written but is not in the log, after the journals had 5 s to commit it."""
    written = {text for e in editors for text in e.written}
    deadline = time.monotonic() + 5
    while True:
        missing = sorted(written - set(await cluster.stored(document)))
        if not missing or time.monotonic() > deadline:
            return missing
        await asyncio.sleep(0.2)


async def restart_redis(
    cluster: Cluster, rng: random.Random, timeline: Timeline, *, times: int = 5
) -> float:
    """Stop and restart Redis `times` times: up 0.2-2 s, down 0.3-2 s; once, stopped again
    50-150 ms after every node re-subscribed (right after a reconnect)."""
    quick = rng.randrange(1, times) if times > 1 else -1
    end = time.monotonic()
    for i in range(times):
        if i == quick:
            back = await cluster.wait_subscribed(10)
            timeline.note("every node re-subscribed" if back else "nodes not back after 10 s")
            await asyncio.sleep(rng.uniform(0.05, 0.15))
        else:
            await asyncio.sleep(rng.uniform(0.2, 2.0))
        how = rng.choice(("kill", "shutdown"))
        await cluster.redis.stop(how)
        timeline.note(f"redis stopped ({how})")
        await asyncio.sleep(rng.uniform(0.3, 2.0))
        end = await cluster.redis.start()
        timeline.note("redis answers again")
    return end


async def pause_redis(
    cluster: Cluster, timeline: Timeline, *, seconds: float = 3.0, before: float = 0.5
) -> float:
    """After `before` s, SIGSTOP Redis for `seconds`, then SIGCONT: connections stay open
    but nothing moves."""
    await asyncio.sleep(before)
    cluster.redis.pause()
    timeline.note("redis paused (SIGSTOP)")
    await asyncio.sleep(seconds)
    end = cluster.redis.resume()
    timeline.note("redis resumed (SIGCONT)")
    return end


async def cut_proxy(
    cluster: Cluster, rng: random.Random, timeline: Timeline, *, times: int = 3
) -> float:
    """Reset the proxied node's Redis connections `times` times mid-stream, each once the
    node is subscribed again; the last time, refuse new connections for 0.3-1 s."""
    proxy = cluster.proxy
    if proxy is None:
        raise RuntimeError("the cluster has no proxied node")
    end = time.monotonic()
    for i in range(times):
        back = await cluster.wait_subscribed(5)
        await asyncio.sleep(rng.uniform(0.2, 1.0))
        refuse = rng.uniform(0.3, 1.0) if i == times - 1 else 0.0
        chunks = proxy.chunks
        count = proxy.drop(refuse_for=refuse)
        end = time.monotonic() + refuse
        timeline.note(
            f"proxy reset {count} connections ({chunks} chunks so far, subscribed: {back})"
            + (f", refusing for {refuse:.2f}s" if refuse else "")
        )
        await asyncio.sleep(refuse)
    return end
