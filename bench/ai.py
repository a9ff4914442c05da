"""AI benchmark: the server's own overhead on time to first token, and token fan-out latency.

Runs the loopback OpenAI-compatible server (tests/openai_server.py) in this process, starts
`ua serve` pointed at it, connects N y-websocket members to one phase and asks for
generations with SSE. It reports:
- time to first token straight from the model server (OpenAI client) and through our server
  (SSE), and the difference: the server's own overhead (prompt building, retrieval, records);
- token fan-out latency: when a token appears in every member's `ai.text`, measured from
  when the same token reached the SSE caller.

    python -m bench.ai --members 10 --tokens 200 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from typing import Any

import httpx
from pycrdt import Map, Text

from ai.providers import ChatMessage
from ai.providers.openai import OpenAIChat
from bench.smoke import account, start_server
from tests.openai_server import OpenAIServer
from tests.support import free_port
from tests.yclient import YClient, yclient


async def direct_ttft(model: OpenAIServer) -> float:
    chat = OpenAIChat("k", model.base_url, "bench-model")
    started = time.perf_counter()
    async with chat.stream([ChatMessage("user", "hi")], temperature=0.5, max_tokens=10) as it:
        async for _ in it:
            ttft = time.perf_counter() - started
            break
    await chat.aclose()
    return ttft


TOKEN_CHARS = 6  # every scripted token is 6 characters, so length tells how many arrived


def ai_text(c: YClient) -> str:
    text = c.doc.get("ai", type=Map).get("text")
    return str(text) if isinstance(text, Text) else ""


async def watch(c: YClient, arrivals: dict[int, float], lags: list[float], n_tokens: int) -> None:
    """Record, per token, how long after its SSE arrival it showed in this member's ai.text."""
    seen = 0
    while seen < n_tokens:
        c.changed.clear()
        now = time.perf_counter()
        visible = min(len(ai_text(c)) // TOKEN_CHARS, n_tokens)
        lags.extend(now - arrivals[i] for i in range(seen, visible) if i in arrivals)
        seen = max(seen, visible)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await c.changed.wait()


async def read_sse(base: str, pid: str, token: str, arrivals: dict[int, float]) -> float:
    """Ask for a generation with SSE; return the time to its first token."""
    headers = {"authorization": f"Bearer {token}", "accept": "text/event-stream"}
    started = time.perf_counter()
    async with (
        httpx.AsyncClient(base_url=base, timeout=60) as client,
        client.stream(
            "POST", f"/api/projects/{pid}/phases/2/generate", json={}, headers=headers
        ) as r,
    ):
        async for line in r.aiter_lines():
            if line.startswith("data: ") and '"delta"' in line:
                arrivals[len(arrivals)] = time.perf_counter()
            elif line.startswith("event: end"):
                break
    return arrivals.get(0, float("nan")) - started


async def one_run(
    base: str, pid: str, token: str, members: list[YClient], n_tokens: int
) -> tuple[float, list[float]]:
    arrivals: dict[int, float] = {}
    lags: list[float] = []
    watchers = [asyncio.create_task(watch(c, arrivals, lags, n_tokens)) for c in members]
    ttft = await read_sse(base, pid, token, arrivals)
    _, pending = await asyncio.wait(watchers, timeout=10)
    for w in pending:
        w.cancel()
    return ttft, lags


async def run(members: int, n_tokens: int, runs: int) -> None:
    async with OpenAIServer() as model:
        model.script(tokens=[f"t{i % 1000:03d}. " for i in range(n_tokens)], delay_s=0.005)
        direct = [await direct_ttft(model) for _ in range(runs)]
        port = free_port()
        with tempfile.TemporaryDirectory() as data_dir:
            proc = await start_server(
                port,
                os.environ.get("DATA_DIR", data_dir),
                OPENAI_BASE_URL=model.base_url,
                OPENAI_API_KEY="bench",
                AI_MODEL="bench-model",
                EMBEDDING_PROVIDER="hashing",
            )
            base = f"http://127.0.0.1:{port}"
            try:
                token, pid = await account(base)
                results = await _measure(base, pid, token, members, n_tokens, runs)
            finally:
                proc.terminate()
                await proc.wait()
    report(direct, *results, members=members, n_tokens=n_tokens)


async def _measure(
    base: str, pid: str, token: str, members: int, n_tokens: int, runs: int
) -> tuple[list[float], list[float]]:
    from contextlib import AsyncExitStack

    ws = base.replace("http://", "ws://")
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(yclient(ws, f"projects/{pid}/phases/2", token))
            for _ in range(members)
        ]
        ttfts: list[float] = []
        lags: list[float] = []
        for _ in range(runs):
            ttft, run_lags = await one_run(base, pid, token, clients, n_tokens)
            ttfts.append(ttft)
            lags.extend(run_lags)
    return ttfts, lags


def report(direct: list[float], via: list[float], lags: list[float], **shape: Any) -> None:
    ms = 1000
    print(f"shape: {shape}")
    print(f"TTFT direct from the model server: median {statistics.median(direct) * ms:.1f} ms")
    print(f"TTFT through ua serve (SSE):       median {statistics.median(via) * ms:.1f} ms")
    print(
        f"server overhead on TTFT:           {(statistics.median(via) - statistics.median(direct)) * ms:.1f} ms"
    )
    if len(lags) > 100:
        q = statistics.quantiles(lags, n=100)
        print(
            f"token fan-out to members after SSE: p50 {q[49] * ms:.1f} ms, p99 {q[98] * ms:.1f} ms ({len(lags)} samples)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.members, args.tokens, args.runs))


if __name__ == "__main__":
    main()
