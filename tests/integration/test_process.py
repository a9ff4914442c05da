"""The real `ua serve` process, driven over HTTP as a new user would."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, fresh_database, make_account, wait_ready


async def test_ua_serve_journey(tmp_path: Path) -> None:
    async with fresh_database() as dsn:
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": dsn,
            "DATA_DIR": str(tmp_path),
            "ARGON2_MEMORY_KIB": "1024",
            "ARGON2_TIME_COST": "1",
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--port",
            str(port),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            await wait_ready(base, proc, path="/healthz")
            async with httpx.AsyncClient(base_url=base) as client:
                owner, guest = await make_account(client), await make_account(client)
                auth = {"authorization": f"Bearer {owner.access_token}"}
                pid = (
                    await client.post("/api/projects", json={"name": "Journey"}, headers=auth)
                ).json()["id"]
                phases = (await client.get(f"/api/projects/{pid}/phases", headers=auth)).json()
                assert len(phases) == 14
                inv = await client.post(
                    f"/api/projects/{pid}/invitations", json={"email": guest.email}, headers=auth
                )
                token = inv.json()["token"]
                accepted = await client.post(
                    f"/api/invitations/{token}/accept",
                    headers={"authorization": f"Bearer {guest.access_token}"},
                )
                assert accepted.status_code == 200
            assert (tmp_path / "jwt_secret").exists()
        finally:
            proc.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(proc.communicate(), 30)
        # uvicorn re-raises SIGTERM once the lifespan has shut down cleanly.
        assert proc.returncode in (0, -signal.SIGTERM), stderr.decode()[-2000:]
        assert b"Application shutdown complete" in stderr
        assert b'"request_id"' in stderr
        assert f"ready on 127.0.0.1:{port}".encode() in stderr  # the flag, not the setting


def test_production_requires_secrets(tmp_path: Path) -> None:
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JWT_SECRET")}
    env.update(ENV="production", DATA_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "JWT_SECRET" in result.stderr and "DATABASE_URL" in result.stderr


@pytest.mark.parametrize("admin", [True, False])
def test_admin_create_user(tmp_path: Path, admin: bool) -> None:
    import subprocess

    async def dsn_holder() -> None:
        async with fresh_database() as dsn:
            env = {
                **os.environ,
                "DATABASE_URL": dsn,
                "DATA_DIR": str(tmp_path),
                "ARGON2_MEMORY_KIB": "1024",
            }
            args = [
                sys.executable,
                "-m",
                "server.cli",
                "admin",
                "create-user",
                "root@example.com",
                "--password",
                "Admin-passw0rd-long",
            ]
            result = await asyncio.to_thread(
                subprocess.run,
                args + (["--admin"] if admin else []),
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 0, result.stderr
            assert ("admin" if admin else "user") in result.stdout

    asyncio.run(dsn_holder())
