"""Test harness: a real Postgres database per session and the real server on a loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn

from server.app import create_app
from server.settings import Settings
from storage.embedded import start_embedded

ROOT = Path(__file__).resolve().parent.parent
TEST_PG_DIR = Path(os.environ.get("UA_TEST_PG_DIR", "/tmp/ua-test-pg"))


def server_dsn() -> str:
    """DATABASE_URL when set, else the embedded Postgres kept for tests."""
    return os.environ.get("DATABASE_URL") or start_embedded(TEST_PG_DIR)


def with_database(dsn: str, name: str) -> str:
    if "?" in dsn:
        base, _, query = dsn.partition("?")
        return f"{base.rsplit('/', 1)[0]}/{name}?{query}"
    return f"{dsn.rsplit('/', 1)[0]}/{name}"


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    admin_dsn = await asyncio.to_thread(server_dsn)
    name = f"ua_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield with_database(admin_dsn, name)
    finally:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def settings_for(dsn: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": dsn,
        "data_dir": data_dir,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "login_ip_rate_limit": 100_000,
        "register_rate_limit": 100_000,  # every test registers from 127.0.0.1
        "jwt_secret": "test-secret-" + "x" * 40,
        "room_idle_unload_s": 0.5,
        "status_debounce_s": 0.2,
        "status_max_wait_s": 1.0,
    }
    values.update(overrides)
    return Settings(**values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningServer:
    settings: Settings
    base_url: str
    app: Any

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://")

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)


@contextlib.asynccontextmanager
async def run_server(settings: Settings) -> AsyncIterator[RunningServer]:
    """The real app under uvicorn on a free loopback port, in this event loop."""
    app = create_app(settings)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        ws_max_size=settings.ws_max_message_bytes,
        ws_ping_interval=None,
        ws_per_message_deflate=False,
        proxy_headers=False,  # as `ua serve`: the app reads forwarded headers (server/proxies.py)
        lifespan="on",
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(60):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("server exited during start-up")
                await asyncio.sleep(0.02)
        yield RunningServer(settings, f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        await task


@dataclass
class Account:
    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str


async def make_account(client: httpx.AsyncClient, name: str | None = None) -> Account:
    name = name or uuid.uuid4().hex[:10]
    email = f"{name}@example.com"
    password = f"Str0ng-{uuid.uuid4().hex[:12]}"
    r = await client.post(
        "/api/auth/register", json={"email": email, "password": password, "display_name": name}
    )
    assert r.status_code == 201, r.text
    user_id = r.json()["id"]
    r = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    tokens = r.json()
    return Account(user_id, email, password, tokens["access_token"], tokens["refresh_token"])


async def new_project(client: httpx.AsyncClient, name: str = "Project") -> tuple[Account, str]:
    """A new account and a project it owns: (owner, project id)."""
    owner = await make_account(client)
    r = await client.post("/api/projects", json={"name": name}, headers=bearer(owner))
    assert r.status_code == 201, r.text
    return owner, r.json()["id"]


async def eventually(predicate: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    """Poll an async condition until it holds, or fail after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


async def wait_changed(
    changed: asyncio.Event, predicate: Callable[[], bool], timeout: float
) -> None:
    """Re-check `predicate` each time `changed` fires, until it holds or `timeout` passes."""
    async with asyncio.timeout(timeout):
        while not predicate():
            changed.clear()
            await changed.wait()


async def wait_unloaded(server: RunningServer, *names: str, timeout: float = 15) -> None:
    """Wait until the server has unloaded these rooms (no connection for a while)."""
    rooms = server.app.state.services.rooms
    async with asyncio.timeout(timeout):
        while any(rooms.loaded(name) is not None for name in names):
            await asyncio.sleep(0.1)


async def add_member(
    client: httpx.AsyncClient, owner: Account, project_id: str, role: str
) -> Account:
    """A new account that joined the project with `role` through an invitation."""
    member = await make_account(client)
    r = await client.post(
        f"/api/projects/{project_id}/invitations",
        json={"email": member.email, "role": role},
        headers=bearer(owner),
    )
    r = await client.post(f"/api/invitations/{r.json()['token']}/accept", headers=bearer(member))
    assert r.status_code == 200, r.text
    return member


def bearer(account: Account) -> dict[str, str]:
    return {"authorization": f"Bearer {account.access_token}"}


def redis_answers(url: str) -> bool:
    host_port = url.split("://", 1)[1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server(port: int | None = None) -> Iterator[str]:
    """A private redis-server on a free port (for tests that restart it)."""
    port = port or free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while not redis_answers(url):
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield url
    finally:
        proc.kill()
        proc.wait()


def shared_redis_url() -> str | None:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    return url if redis_answers(url) else None


async def wait_ready(
    base_url: str, proc: asyncio.subprocess.Process | None = None, path: str = "/readyz"
) -> None:
    """Poll until the server answers 200 (or fail when its process exits, or after 60 s)."""
    async with httpx.AsyncClient(base_url=base_url) as client, asyncio.timeout(60):
        while True:
            if proc is not None and proc.returncode is not None:
                raise RuntimeError(f"ua serve exited with {proc.returncode}")
            try:
                if (await client.get(path)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def ua_process(
    port: int, env: dict[str, str], *args: str, log: Path | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`ua serve` as its own process, ready when /readyz answers 200; killed on exit."""
    full_env = {
        **os.environ,
        "ARGON2_MEMORY_KIB": "1024",
        "ARGON2_TIME_COST": "1",
        "JWT_SECRET": "process-secret-" + "x" * 32,
        "ROOM_IDLE_UNLOAD_S": "2",
        "REGISTER_RATE_LIMIT": "100000",
        **env,
    }
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115, ASYNC230
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "serve",
        "--port",
        str(port),
        *args,
        env=full_env,
        stdout=out,
        stderr=out,
    )
    try:
        await wait_ready(f"http://127.0.0.1:{port}", proc)
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]


@contextlib.asynccontextmanager
async def ua_cluster(
    dsn: str, redis: str, tmp: Path, count: int, **env: str
) -> AsyncIterator[tuple[list[int], list[asyncio.subprocess.Process], dict[str, str]]]:
    """`count` `ua serve` processes on one database and one Redis (a prefix of their own),
    logs in tmp/node{i}.log: (ports, processes, their environment)."""
    shared = {
        "DATABASE_URL": dsn,
        "REDIS_URL": redis,
        "REDIS_PREFIX": f"t{uuid.uuid4().hex[:10]}",
        "DATA_DIR": str(tmp),
        **env,
    }
    ports = [free_port() for _ in range(count)]
    async with contextlib.AsyncExitStack() as stack:
        procs = [
            await stack.enter_async_context(ua_process(port, shared, log=tmp / f"node{i}.log"))
            for i, port in enumerate(ports)
        ]
        yield ports, procs, shared
