"""Live replicas heal after Redis faults: three `ua serve` nodes, an editor typing on each,
and every client converges within 5 s of the last fault's end (tests/faults/)."""

from __future__ import annotations

import os
import random
from pathlib import Path

from tests.faults import (
    Cluster,
    Outcome,
    cut_proxy,
    open_cluster,
    pause_redis,
    restart_redis,
    under_edits,
)

DEADLINE_S = 5.0  # from the end of the last fault to every client converged


def _seed() -> int:
    seed = int(os.environ.get("UA_FAULT_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"seed {seed} (UA_FAULT_SEED={seed} repeats it)")
    return seed


def _check(outcome: Outcome, cluster: Cluster) -> None:
    took = outcome.converged_after
    print(outcome.timeline)
    if took is not None:
        print(
            f"converged {took:.2f}s after the last fault, {outcome.settled_after:.2f}s after edits"
        )
    else:
        print("never converged")
    report = f"{outcome.divergence}\n{outcome.timeline}\n{cluster.describe_logs()}"
    assert took is not None, f"no convergence: {report}"
    assert took <= DEADLINE_S, f"converged only after {took:.2f}s\n{report}"
    assert not outcome.unstored, f"not in Postgres: {outcome.unstored[:10]}\n{report}"


async def test_redis_restarted_five_times_under_edits(tmp_path: Path) -> None:
    rng = random.Random(_seed())
    async with open_cluster(tmp_path, nodes=3) as cluster:
        outcome = await under_edits(
            cluster, lambda timeline: restart_redis(cluster, rng, timeline, times=5)
        )
        _check(outcome, cluster)


async def test_redis_paused_under_edits(tmp_path: Path) -> None:
    async with open_cluster(tmp_path, nodes=3) as cluster:
        outcome = await under_edits(
            cluster, lambda timeline: pause_redis(cluster, timeline, seconds=3.0)
        )
        _check(outcome, cluster)


async def test_one_nodes_redis_connections_reset_under_edits(tmp_path: Path) -> None:
    rng = random.Random(_seed())
    async with open_cluster(tmp_path, nodes=3, proxied=2) as cluster:
        assert cluster.proxy is not None
        outcome = await under_edits(
            cluster, lambda timeline: cut_proxy(cluster, rng, timeline, times=3)
        )
        _check(outcome, cluster)
        assert cluster.proxy.dropped >= 3, "the proxy had no connection to reset"
