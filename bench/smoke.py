"""Smoke benchmark: N y-websocket clients in one room, each sending updates at a fixed rate.

Starts `ua serve` (embedded Postgres, or DATABASE_URL) on a free port and prints delivered
updates per second, fan-out latency percentiles, the server's CPU seconds and the p99
persistence lag from /metrics.

    python -m bench.smoke --clients 20 --rate 10 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from pycrdt import Doc, Map
from websockets.asyncio.client import ClientConnection, connect

from collab.protocol import ywire
from tests.support import free_port, wait_ready


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def start_server(port: int, data_dir: str, **extra: str) -> asyncio.subprocess.Process:
    """`ua serve` for a benchmark: quiet, cheap password hashing, no flood limit."""
    env = {
        **os.environ,
        "DATA_DIR": data_dir,
        "ARGON2_MEMORY_KIB": "1024",
        "LOG_LEVEL": "WARNING",
        "WS_RATE_LIMIT_PER_S": "100000",
        **extra,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "serve",
        "--port",
        str(port),
        env=env,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await wait_ready(f"http://127.0.0.1:{port}", proc)
    return proc


async def account(base: str) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=base) as client:
        email, password = f"bench-{uuid.uuid4().hex[:8]}@example.com", "bench-Passw0rd-long"
        await client.post(
            "/api/auth/register", json={"email": email, "password": password, "display_name": "b"}
        )
        token = (
            await client.post("/api/auth/login", json={"email": email, "password": password})
        ).json()["access_token"]
        pid = (
            await client.post(
                "/api/projects",
                json={"name": "bench"},
                headers={"authorization": f"Bearer {token}"},
            )
        ).json()["id"]
        return token, pid


class Client:
    def __init__(self, index: int, ws: ClientConnection) -> None:
        self.index = index
        self.ws = ws
        self.doc: Doc = Doc()
        self.clock: Map = self.doc.get("bench", type=Map)
        self.seen: dict[str, float] = {}
        self.latencies: list[float] = []
        self.received = 0

    async def read(self) -> None:
        async for frame in self.ws:
            assert isinstance(frame, bytes)
            for message in ywire.decode(frame, max_size=1 << 30):
                if isinstance(message, ywire.SyncStep1):
                    await self.ws.send(
                        ywire.encode(ywire.SyncStep2(self.doc.get_update(message.state_vector)))
                    )
                elif isinstance(message, ywire.Update | ywire.SyncStep2):
                    self.doc.apply_update(message.update)
                    self._measure(isinstance(message, ywire.Update))

    def _measure(self, live: bool) -> None:
        now = time.perf_counter()
        for key, sent in self.clock.items():
            if key != f"c{self.index}" and self.seen.get(key) != sent:
                self.seen[key] = sent
                if live:
                    self.latencies.append(now - float(sent))
                    self.received += 1

    async def write(self, rate: float, until: float) -> int:
        sent = 0
        while time.perf_counter() < until:
            before = self.doc.get_state()
            self.clock[f"c{self.index}"] = time.perf_counter()
            await self.ws.send(ywire.encode(ywire.Update(self.doc.get_update(before))))
            sent += 1
            await asyncio.sleep(1 / rate)
        return sent


async def run(clients: int, rate: float, seconds: float) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        proc = await start_server(port, os.environ.get("DATA_DIR", data_dir))
        try:
            token, pid = await account(f"http://127.0.0.1:{port}")
            url = f"ws://127.0.0.1:{port}/yjs/projects/{pid}/phases/1?token={token}"
            sockets = [await connect(url, max_size=None) for _ in range(clients)]
            peers = [Client(i, ws) for i, ws in enumerate(sockets)]
            readers = [asyncio.create_task(p.read()) for p in peers]
            await asyncio.sleep(1)
            cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
            sent = sum(await asyncio.gather(*(p.write(rate, t0 + seconds) for p in peers)))
            await asyncio.sleep(1)
            elapsed, cpu = time.perf_counter() - t0, cpu_seconds(proc.pid) - cpu0
            for ws in sockets:
                await ws.close()
            for task in readers:
                task.cancel()
            async with httpx.AsyncClient() as http:
                metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        finally:
            proc.terminate()
            await proc.wait()
    latencies = sorted(lat for p in peers for lat in p.latencies)
    delivered = sum(p.received for p in peers)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 100 else [float("nan")] * 99
    print(f"clients={clients} rate={rate}/s seconds={seconds}")
    print(
        f"updates sent={sent} ({sent / elapsed:.0f}/s) delivered={delivered} ({delivered / elapsed:.0f}/s)"
    )
    print(f"fan-out latency ms: p50={q[49] * 1000:.2f} p99={q[98] * 1000:.2f}")
    print(
        f"server cpu s={cpu:.2f} delivered updates per cpu-second={delivered / max(cpu, 1e-9):.0f}"
    )
    print(
        f"persistence lag p99 <= {lag_p99(metrics) * 1000:.0f} ms (receipt to commit, histogram bucket)"
    )


def lag_p99(metrics: str) -> float:
    buckets = []
    for line in metrics.splitlines():
        if line.startswith("ua_persistence_lag_seconds_bucket"):
            bound = line.split('le="')[1].split('"')[0]
            buckets.append((float(bound), float(line.rsplit(" ", 1)[1])))
    total = buckets[-1][1] if buckets else 0
    return next((b for b, count in buckets if count >= 0.99 * total), float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(run(args.clients, args.rate, args.seconds))


if __name__ == "__main__":
    main()
