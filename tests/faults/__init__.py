"""Fault injection for multi-node tests: real `ua serve` processes over one database and a
private Redis that can be stopped, restarted on its port and paused; a TCP proxy that cuts one
node's Redis connections; an editor typing on every node; the check that every replica
converged, and how long that took.

    async with open_cluster(tmp_path, nodes=3) as cluster:
        outcome = await under_edits(cluster, lambda t: restart_redis(cluster, rng, t))
        assert outcome.converged_after is not None and outcome.converged_after <= 5

Modules: redis_server (RedisProcess), proxy (TcpProxy), cluster (open_cluster), editors
(open_editors, divergence, time_to_converge), scenarios (under_edits and the faults).
Used by tests/integration/test_self_healing.py and bench/soak.py.
"""

from tests.faults.cluster import Cluster, open_cluster
from tests.faults.editors import (
    Divergence,
    Editor,
    Editors,
    converged,
    divergence,
    open_editors,
    time_to_converge,
)
from tests.faults.proxy import TcpProxy
from tests.faults.redis_server import RedisProcess, subscribed_clients
from tests.faults.scenarios import (
    Faults,
    Outcome,
    Timeline,
    cut_proxy,
    pause_redis,
    restart_redis,
    under_edits,
)

__all__ = [
    "Cluster",
    "Divergence",
    "Editor",
    "Editors",
    "Faults",
    "Outcome",
    "RedisProcess",
    "TcpProxy",
    "Timeline",
    "converged",
    "cut_proxy",
    "divergence",
    "open_cluster",
    "open_editors",
    "pause_redis",
    "restart_redis",
    "subscribed_clients",
    "time_to_converge",
    "under_edits",
]
