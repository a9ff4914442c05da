"""Asyncio wrapper around `driver.mjs`: real Node Yjs clients driven over JSON lines."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Any

INTEROP_DIR = Path(__file__).resolve().parent
DRIVER = INTEROP_DIR / "driver.mjs"
NODE_MODULES = INTEROP_DIR / "node_modules"
REQUIRED_PACKAGES = ("yjs", "y-websocket", "@hocuspocus/provider", "ws")

DEFAULT_TIMEOUT_S = 15.0
# Slack on top of a command's own `timeoutMs`, so the driver reports its timeout (with details)
# before the Python side gives up.
TIMEOUT_SLACK_S = 5.0


class DriverError(Exception):
    """The driver answered a command with an error, died, or did not answer in time."""


def missing_requirements() -> str | None:
    """Why the interop tests cannot run here, or None when they can."""
    if shutil.which("node") is None:
        return "node is not installed"
    missing = [p for p in REQUIRED_PACKAGES if not (NODE_MODULES / p / "package.json").exists()]
    if missing:
        return (
            f"tests/interop/node_modules lacks {', '.join(missing)}: "
            "run `npm ci --prefix tests/interop` (make test does)"
        )
    return None


class Driver:
    """One `node driver.mjs` process holding any number of named clients.

    >>> async with Driver() as driver:
    ...     await driver.call("connect", client="a", protocol="yjs", url=..., document=...)
    """

    def __init__(self, *, default_timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.default_timeout = default_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._stderr: deque[str] = deque(maxlen=200)
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Driver:
        node = shutil.which("node")
        if node is None:
            raise DriverError("node is not installed")
        self._proc = await asyncio.create_subprocess_exec(
            node,
            str(DRIVER),
            cwd=INTEROP_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        self._tasks = [
            asyncio.create_task(self._read_replies()),
            asyncio.create_task(self._read_stderr()),
        ]
        await self.call("ping")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(DriverError):
                await self.call("destroy", wait_s=5)
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                async with asyncio.timeout(5):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._proc = None

    @property
    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    async def call(self, cmd: str, *, wait_s: float | None = None, **params: Any) -> dict[str, Any]:
        """Send one command; return its result or raise DriverError.

        `wait_s` bounds the wait for the reply (default: the command's `timeoutMs` plus some
        slack, else `default_timeout`).
        """
        proc = self._proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            raise DriverError(f"driver is not running; stderr:\n{self.stderr_tail}")
        timeout = wait_s
        if timeout is None:
            timeout = self.default_timeout
            if isinstance(params.get("timeoutMs"), int | float):
                timeout = params["timeoutMs"] / 1000 + TIMEOUT_SLACK_S
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        line = json.dumps({"id": request_id, "cmd": cmd, **params}) + "\n"
        try:
            proc.stdin.write(line.encode())
            await proc.stdin.drain()
            async with asyncio.timeout(timeout):
                reply = await future
        except TimeoutError:
            raise DriverError(f"{cmd}: no reply within {timeout:.1f} s") from None
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise DriverError(f"{cmd}: driver pipe closed; stderr:\n{self.stderr_tail}") from exc
        finally:
            self._pending.pop(request_id, None)
        if not reply.get("ok"):
            raise DriverError(f"{cmd}: {reply.get('error')}")
        result: dict[str, Any] = reply.get("result") or {}
        return result

    async def _read_replies(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout
        while line := await stdout.readline():
            try:
                reply = json.loads(line)
            except json.JSONDecodeError:
                self._stderr.append(f"[non-JSON stdout] {line.decode(errors='replace')}")
                continue
            future = self._pending.get(reply.get("id"))
            if future is not None and not future.done():
                future.set_result(reply)
        error = DriverError(f"driver exited; stderr:\n{self.stderr_tail}")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        stderr = self._proc.stderr
        while line := await stderr.readline():
            self._stderr.append(line.decode(errors="replace").rstrip())

    # Conveniences over `call` used by the tests.

    async def connect(
        self,
        client: str,
        *,
        protocol: str,
        url: str,
        document: str,
        token: str | None,
        socket: str | None = None,
        synced: bool = True,
        timeout_ms: int = 10_000,
    ) -> dict[str, Any]:
        """Connect a client; by default wait until its first sync with the server is done."""
        params: dict[str, Any] = {"protocol": protocol, "url": url, "document": document}
        params["token"] = token
        if socket is not None:
            params["socket"] = socket
        result = await self.call("connect", client=client, **params)
        if synced:
            await self.call("waitSynced", client=client, timeoutMs=timeout_ms)
        return result

    async def paragraphs(self, client: str) -> list[str]:
        result = await self.call("readParagraphs", client=client)
        return list(result["paragraphs"])

    async def status(self, client: str) -> dict[str, Any]:
        return await self.call("status", client=client)
