"""A private redis-server that a test stops, restarts on the same port, pauses and resumes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tests.support import free_port


async def _redis_command(port: int, command: bytes, timeout: float = 1.0) -> bytes:
    """Send one inline command on a fresh connection; the first reply bytes (b"" if none)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(command + b"\r\n")
            await writer.drain()
            return await reader.read(64)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class RedisProcess:
    """A private redis-server on a fixed port: stopped (kill -9 or SHUTDOWN NOSAVE), started
    again on the same port, paused (SIGSTOP) and resumed (SIGCONT). An async context manager:
    started on entry, killed on exit."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: asyncio.subprocess.Process | None = None
        self.paused = False

    async def __aenter__(self) -> RedisProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop("kill")

    async def answers(self) -> bool:
        try:
            return (await _redis_command(self.port, b"PING")).startswith(b"+PONG")
        except (OSError, TimeoutError):
            return False

    async def start(self, timeout: float = 10) -> float:
        """Start it; return the moment (time.monotonic) it first answered PING."""
        if self.proc is not None:
            raise RuntimeError("redis-server is already running")
        self.proc = await asyncio.create_subprocess_exec(
            *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(timeout):
            while not await self.answers():
                if self.proc.returncode is not None:
                    raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
                await asyncio.sleep(0.02)
        return time.monotonic()

    async def stop(self, how: str = "kill") -> None:
        """`kill`: SIGKILL, sockets reset by the kernel; `shutdown`: SHUTDOWN NOSAVE."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        self._continue(proc)
        if how == "shutdown":
            with contextlib.suppress(OSError, TimeoutError):
                await _redis_command(self.port, b"SHUTDOWN NOSAVE")
        else:
            proc.kill()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    def pause(self) -> None:
        if self.proc is None:
            raise RuntimeError("redis-server is not running")
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> float:
        """SIGCONT if paused; return the moment (time.monotonic)."""
        if self.proc is not None:
            self._continue(self.proc)
        return time.monotonic()

    def _continue(self, proc: asyncio.subprocess.Process) -> None:
        if self.paused:
            proc.send_signal(signal.SIGCONT)
            self.paused = False

    async def ensure_running(self) -> None:
        """Back to normal (resumed, or started): nodes shut down cleanly only with Redis."""
        self.resume()
        if self.proc is None:
            await self.start()


async def subscribed_clients(url: str) -> int:
    """Connections in SUBSCRIBE mode on this Redis (each node's reader holds one); 0 if down."""
    client = aioredis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        clients = await client.client_list()
        return sum(1 for c in clients if int(c.get("sub", 0)) + int(c.get("psub", 0)) > 0)
    except (RedisError, OSError, TimeoutError):
        return 0
    finally:
        await client.aclose()
