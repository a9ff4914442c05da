"""Soak: the Redis restart scenario of tests/integration/test_self_healing.py, run after run.

Each run starts a fresh cluster (three `ua serve` nodes, a fresh database on the embedded
Postgres or DATABASE_URL, a private redis-server), puts an editor on every node typing a
paragraph every 80 ms on a new document, stops and restarts Redis five times at random
(one stop 50-150 ms after every node re-subscribed), types one more second, and measures the
time from the last restart to every client converged. Prints a Markdown table.

    python -m bench.soak --runs 10 [--seed N] [--same-cluster]

`--same-cluster` keeps one cluster for every run (a new document each time): faster, and it
also tests nodes that went through many outages; a run that breaks a node then spoils the
runs after it; its documents are made up front (their tokens last ACCESS_TOKEN_TTL_S, 15
min). Node logs stay in the printed directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
from pathlib import Path

from tests.faults import Cluster, Outcome, open_cluster, restart_redis, under_edits

DEADLINE_S = 5.0


async def one_run(
    cluster: Cluster, seed: int, restarts: int, give_up: float, document: tuple[str, str]
) -> Outcome:
    rng = random.Random(seed)
    return await under_edits(
        cluster,
        lambda timeline: restart_redis(cluster, rng, timeline, times=restarts),
        give_up=give_up,
        document=document,
    )


async def run(runs: int, seed: int, restarts: int, give_up: float, same: bool) -> None:
    root = Path(tempfile.mkdtemp(prefix="ua-soak-"))
    print(f"seed {seed}, {runs} runs, {restarts} restarts each, logs in {root}", flush=True)
    rows: list[tuple[int, int, Outcome]] = []
    async with contextlib.AsyncExitStack() as stack:
        shared = (
            await stack.enter_async_context(open_cluster(_mkdir(root / "cluster")))
            if same
            else None
        )
        # Accounts and documents first: REST calls right after a restart are not measured here.
        documents = [await shared.new_document() for _ in range(runs)] if shared else []
        for index in range(runs):
            run_seed = seed + index
            async with contextlib.AsyncExitStack() as per_run:
                cluster = shared
                if cluster is None:
                    path = _mkdir(root / f"run{index + 1}")
                    cluster = await per_run.enter_async_context(open_cluster(path))
                document = documents[index] if documents else await cluster.new_document()
                outcome = await one_run(cluster, run_seed, restarts, give_up, document)
            rows.append((index + 1, run_seed, outcome))
            print(f"run {index + 1}: {_cell(outcome)} ({outcome.divergence})", flush=True)
    print()
    print(table(rows, same))


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _cell(outcome: Outcome) -> str:
    took = outcome.converged_after
    return "never" if took is None else f"{took:.2f} s"


def table(rows: list[tuple[int, int, Outcome]], same: bool) -> str:
    lines = [
        f"Redis restart soak ({'one cluster' if same else 'a fresh cluster per run'}):",
        "",
        "| run | seed | paragraphs | converged after last restart | after edits stopped"
        " | not in Postgres | state at give-up |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for number, seed, o in rows:
        state = "" if o.converged_after is not None else str(o.divergence)
        settled = "never" if o.settled_after is None else f"{o.settled_after:.2f} s"
        lines.append(
            f"| {number} | {seed} | {o.written} | {_cell(o)} | {settled} | {len(o.unstored)}"
            f" | {state} |"
        )
    times = [o.converged_after for _, _, o in rows if o.converged_after is not None]
    failed = len(rows) - len(times)
    late = sum(1 for t in times if t > DEADLINE_S)
    worst = "never" if failed else f"{max(times):.2f} s"
    median = f"{statistics.median(times):.2f} s" if times else "n/a"
    lines += [
        "",
        f"worst: {worst}; median: {median}; over {DEADLINE_S:.0f} s: {late}; "
        f"never converged: {failed} of {len(rows)}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=None, help="run i uses seed + i")
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument(
        "--give-up", type=float, default=15.0, help="seconds after the last restart"
    )
    parser.add_argument("--same-cluster", action="store_true")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    asyncio.run(run(args.runs, seed, args.restarts, args.give_up, args.same_cluster))


if __name__ == "__main__":
    main()
