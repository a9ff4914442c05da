"""Our server against Hocuspocus v4: the same Hocuspocus-protocol load on both, in one run.

Starts the peer (`node bench/hocuspocus/server.mjs PORT`: @hocuspocus/server, no persistence
extension, any token accepted) and ours (`ua serve`, embedded Postgres, every update committed
before its SyncStatus acknowledgement), then runs against each in turn:

- rate phase: N clients on one document, each setting its key of a Y.Map to a timestamp
  `rate` times a second for `seconds` (clients spread evenly over the period);
- saturation phase (`--saturate K`): K clients on a fresh document, each sending as fast as
  acknowledgements allow (at most `--window` unacknowledged updates per client).

It reports delivered updates/s, fan-out latency p50/p99 (send -> receipt at every other
client), the server's CPU seconds from /proc (the node process; for ours `ua serve`, and the
embedded Postgres separately), delivered updates per CPU-second, the load generator's own CPU,
and the ratios ours / Hocuspocus.

Receipts are only timestamped while the load runs (the frame is kept as received); decoding
them and applying them to each client's Y.Doc happens afterwards, so the generator's CPU goes
to sending and receiving.

    python -m bench.peer --clients 20 --rate 10 --seconds 10 --saturate 8
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pycrdt import Doc, Map
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.smoke import account, cpu_seconds, start_server
from collab.protocol import hocuspocus as hp
from collab.protocol import ywire
from collab.protocol.lib0 import Decoder, Encoder
from tests.support import free_port

PEER_DIR = Path(__file__).resolve().parent / "hocuspocus"
NOT_PERSISTED = (
    "ours commits every update to Postgres before acknowledging it; "
    "Hocuspocus here has no persistence extension (memory only)"
)


# -- processes -------------------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def tree_cpu_seconds(root: int) -> float:
    """CPU of `root`, its reaped children and its live children (one level: Postgres backends)."""
    tick = os.sysconf("SC_CLK_TCK")
    fields = _stat(root)
    total = sum(int(fields[i]) for i in (11, 12, 13, 14))
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            child = _stat(int(entry.name))
            if int(child[1]) == root:
                total += int(child[11]) + int(child[12])
    return total / tick


@dataclass
class Target:
    name: str
    url: str
    token: str
    pid: int
    extra_pid: int | None = None  # the embedded Postgres postmaster, for ours
    documents: Callable[[int], str] = lambda phase: f"bench/{phase}"

    def cpu(self) -> tuple[float, float]:
        extra = tree_cpu_seconds(self.extra_pid) if self.extra_pid else 0.0
        return cpu_seconds(self.pid), extra


async def wait_http(url: str, timeout: float = 120) -> None:
    async with httpx.AsyncClient() as client, asyncio.timeout(timeout):
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def hocuspocus() -> AsyncIterator[Target]:
    if not (PEER_DIR / "node_modules").exists():
        npm = await asyncio.create_subprocess_exec("npm", "ci", "--prefix", str(PEER_DIR))
        if await npm.wait() != 0:
            raise RuntimeError("npm ci --prefix bench/hocuspocus failed")
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        "node", str(PEER_DIR / "server.mjs"), str(port), stdout=asyncio.subprocess.DEVNULL
    )
    try:
        await wait_http(f"http://127.0.0.1:{port}/", timeout=30)
        yield Target("hocuspocus", f"ws://127.0.0.1:{port}/", "any-token", proc.pid)
    finally:
        proc.terminate()
        await proc.wait()


def postmaster_pid(data_dir: str) -> int | None:
    pidfile = Path(data_dir) / "pg" / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError):
        return int(pidfile.read_text().split()[0])
    return None


@contextlib.asynccontextmanager
async def ours() -> AsyncIterator[Target]:
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        proc = await start_server(port, data_dir)
        postmaster = postmaster_pid(data_dir)
        try:
            token, project = await account(f"http://127.0.0.1:{port}")
            yield Target(
                "ours",
                f"ws://127.0.0.1:{port}/collab",
                token,
                proc.pid,
                postmaster,
                lambda phase: f"projects/{project}/phases/{phase}",
            )
        finally:
            proc.terminate()
            await proc.wait()
            if postmaster is not None:  # pgserver leaves it running; we started it, stop it
                with contextlib.suppress(ProcessLookupError):
                    os.kill(postmaster, 15)


# -- clients ---------------------------------------------------------------------------------


def address_prefix(document: str) -> bytes:
    encoder = Encoder()
    encoder.write_var_string(document)
    return encoder.to_bytes()


def state_vector(doc: Doc) -> dict[int, int]:
    decoder = Decoder(doc.get_state())
    return {
        decoder.read_var_uint(): decoder.read_var_uint() for _ in range(decoder.read_var_uint())
    }


@dataclass
class Client:
    """One Hocuspocus-protocol client; every update it sends is one new item (clock + 1)."""

    index: int
    ws: ClientConnection
    document: str
    doc: Doc = field(default_factory=Doc)
    times: list[float] = field(default_factory=list)  # send time of the update with clock i
    log: list[tuple[float, bytes]] = field(default_factory=list)
    acks: int = 0
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    synced: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        prefix = address_prefix(self.document)
        self.ack_frame = prefix + bytes([hp.SYNC_STATUS, 1])
        self.update_prefix = prefix + bytes([hp.SYNC, 2])
        self.clock: Map = self.doc.get("bench", type=Map)

    @property
    def sent(self) -> int:
        return len(self.times)

    async def send(self, message: hp.HMessage) -> None:
        await self.ws.send(hp.encode(hp.HFrame(self.document, None, message)))

    async def read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in self.ws:
                assert isinstance(frame, bytes)
                if frame == self.ack_frame:
                    self.acks += 1
                    self.acked.set()
                elif frame.startswith(self.update_prefix):
                    self.log.append((time.perf_counter(), frame))
                else:
                    await self._slow(frame)

    async def _slow(self, data: bytes) -> None:
        for frame in hp.decode(data, max_size=1 << 30):
            message = frame.message
            if isinstance(message, hp.Ping):
                await self.ws.send(hp.encode(hp.HFrame("", None, hp.Pong())))
            elif isinstance(message, ywire.SyncStep1):
                await self.send(hp.SyncReply(ywire.SyncStep2(self.doc.get_update())))
            elif isinstance(message, ywire.SyncStep2):
                self.synced.set()
            elif isinstance(message, ywire.Update):
                self.log.append((time.perf_counter(), data))
            elif isinstance(message, hp.SyncStatus):
                self.acks += 1
                self.acked.set()
            elif isinstance(message, hp.PermissionDenied):
                raise RuntimeError(f"permission denied: {message.reason}")

    def _update(self) -> bytes:
        before = self.doc.get_state()
        now = time.perf_counter()
        self.clock[f"c{self.index}"] = now
        self.times.append(now)
        return hp.encode(hp.HFrame(self.document, None, ywire.Update(self.doc.get_update(before))))

    async def at_rate(self, rate: float, until: float, offset: float) -> None:
        # clients are spread over the period, as independent editors would be, not in lockstep
        await asyncio.sleep(offset)
        start = time.perf_counter()
        while (now := time.perf_counter()) < until:
            await self.ws.send(self._update())
            # a fixed schedule, so a slow send does not lower the rate
            await asyncio.sleep(max(0.0, start + self.sent / rate - now))

    async def flat_out(self, window: int, until: float) -> None:
        base = self.acks
        while time.perf_counter() < until:
            while self.sent - (self.acks - base) >= window:
                self.acked.clear()
                try:
                    await asyncio.wait_for(
                        self.acked.wait(), max(0.01, until - time.perf_counter())
                    )
                except TimeoutError:
                    return
            await self.ws.send(self._update())

    def latencies(self, senders: dict[int, list[float]]) -> list[float]:
        """Replay the receipts in order; each other client's clock that advanced is a delivery.

        Counting by clocks, not by values seen, keeps updates that a server merged into one
        broadcast (Hocuspocus merges what arrives in one event-loop turn) as separate
        deliveries, each with its own send time.
        """
        doc: Doc = Doc()
        others = {cid: times for cid, times in senders.items() if cid != self.doc.client_id}
        seen = dict.fromkeys(others, 0)
        out: list[float] = []
        for received, data in self.log:
            for frame in hp.decode(data, max_size=1 << 30):
                if isinstance(frame.message, ywire.Update):
                    doc.apply_update(frame.message.update)
            vector = state_vector(doc)
            for cid, times in others.items():
                new = min(vector.get(cid, 0), len(times))
                out.extend(received - times[i] for i in range(seen[cid], new))
                seen[cid] = max(seen[cid], new)
        return out


# -- phases ----------------------------------------------------------------------------------


@dataclass
class Result:
    server: str
    phase: str
    clients: int
    seconds: float
    sent: int
    latencies: list[float]
    cpu: float
    extra_cpu: float
    generator_cpu: float
    frames: int  # update frames the clients received (a server may merge updates into one)

    @property
    def delivered(self) -> int:
        return len(self.latencies)

    def quantile(self, q: int) -> float:
        if len(self.latencies) < 100:
            return float("nan")
        return statistics.quantiles(self.latencies, n=100)[q - 1] * 1000

    @property
    def per_cpu(self) -> float:
        return self.delivered / max(self.cpu, 1e-9)

    @property
    def per_total_cpu(self) -> float:
        return self.delivered / max(self.cpu + self.extra_cpu, 1e-9)


async def open_clients(target: Target, document: str, count: int) -> list[Client]:
    clients = []
    for i in range(count):
        ws = await connect(target.url, max_size=None, ping_interval=None)
        client = Client(i, ws, document)
        clients.append(client)
        client.task = asyncio.create_task(client.read())  # type: ignore[attr-defined]
        await client.send(hp.AuthToken(target.token, "4.8.0"))
        await client.send(ywire.SyncStep1(client.doc.get_state()))
        async with asyncio.timeout(10):
            await client.synced.wait()
    return clients


async def drain(clients: list[Client], quiet: float = 0.5, cap: float = 5.0) -> None:
    """Wait until no client has received anything for `quiet` seconds (at most `cap`)."""
    deadline = time.perf_counter() + cap
    while time.perf_counter() < deadline:
        before = sum(len(c.log) for c in clients)
        await asyncio.sleep(quiet)
        if sum(len(c.log) for c in clients) == before:
            return


async def phase(target: Target, name: str, count: int, seconds: float, load: Callable) -> Result:
    clients = await open_clients(target, target.documents(1 if name == "rate" else 2), count)
    await asyncio.sleep(1)
    for client in clients:
        client.log.clear()
    (cpu0, extra0), gen0, t0 = target.cpu(), time.process_time(), time.perf_counter()
    await asyncio.gather(*(load(client, t0 + seconds) for client in clients))
    await drain(clients)
    last = max((c.log[-1][0] for c in clients if c.log), default=t0 + seconds)
    cpu1, extra1 = target.cpu()
    generator = time.process_time() - gen0
    frames = sum(len(c.log) for c in clients)
    for client in clients:
        await client.ws.close()
        await client.task  # type: ignore[attr-defined]
    senders = {client.doc.client_id: client.times for client in clients}
    latencies = [lat for client in clients for lat in client.latencies(senders)]
    return Result(
        target.name,
        name,
        count,
        max(last - t0, seconds),
        sum(c.sent for c in clients),
        latencies,
        cpu1 - cpu0,
        extra1 - extra0,
        generator,
        frames,
    )


async def run_target(target: Target, args: argparse.Namespace) -> list[Result]:
    results = [
        await phase(
            target,
            "rate",
            args.clients,
            args.seconds,
            lambda client, until: client.at_rate(
                args.rate, until, client.index / (args.clients * args.rate)
            ),
        )
    ]
    if args.saturate:
        results.append(
            await phase(
                target,
                "saturate",
                args.saturate,
                args.seconds,
                lambda client, until: client.flat_out(args.window, until),
            )
        )
    for result in results:
        print(f"  {result.server} {result.phase}: {result.delivered} delivered", file=sys.stderr)
    return results


# -- report ----------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def _row(label: str, hocus: float, mine: float, fmt: str, ratio: bool = True) -> str:
    cells = [label, format(hocus, fmt), format(mine, fmt), _ratio(mine, hocus) if ratio else ""]
    return "| " + " | ".join(cells) + " |"


def table(hocus: Result, mine: Result) -> list[str]:
    return [
        f"### {mine.phase}: {mine.clients} clients, {mine.seconds:.1f} s",
        "",
        "| figure | Hocuspocus | ours | ours / Hocuspocus |",
        "| --- | ---: | ---: | ---: |",
        _row("updates sent/s", hocus.sent / hocus.seconds, mine.sent / mine.seconds, ".0f"),
        _row(
            "delivered updates/s",
            hocus.delivered / hocus.seconds,
            mine.delivered / mine.seconds,
            ".0f",
        ),
        _row(
            "update frames received/s",
            hocus.frames / hocus.seconds,
            mine.frames / mine.seconds,
            ".0f",
        ),
        _row("fan-out latency p50 (ms)", hocus.quantile(50), mine.quantile(50), ".2f"),
        _row("fan-out latency p99 (ms)", hocus.quantile(99), mine.quantile(99), ".2f"),
        _row("server CPU (s)", hocus.cpu, mine.cpu, ".2f"),
        _row("delivered updates per server CPU-s", hocus.per_cpu, mine.per_cpu, ".0f"),
        _row("  + Postgres CPU (s)", hocus.extra_cpu, mine.extra_cpu, ".2f", ratio=False),
        _row(
            "delivered per CPU-s incl. Postgres",
            hocus.per_total_cpu,
            mine.per_total_cpu,
            ".0f",
        ),
        _row(
            "load generator CPU (s)",
            hocus.generator_cpu,
            mine.generator_cpu,
            ".2f",
            ratio=False,
        ),
        "",
    ]


async def run(args: argparse.Namespace) -> None:
    async with hocuspocus() as peer, ours() as mine:
        print("hocuspocus ...", file=sys.stderr)
        theirs = await run_target(peer, args)
        print("ours ...", file=sys.stderr)
        own = await run_target(mine, args)
    print(
        f"clients={args.clients} rate={args.rate}/s seconds={args.seconds} "
        f"saturate={args.saturate} window={args.window}; "
        f"{os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}"
    )
    print(f"note: {NOT_PERSISTED}\n")
    for hocus_result, own_result in zip(theirs, own, strict=True):
        print("\n".join(table(hocus_result, own_result)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--saturate", type=int, default=0, help="clients in the saturation phase")
    parser.add_argument(
        "--window", type=int, default=4, help="unacknowledged updates per saturating client"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
