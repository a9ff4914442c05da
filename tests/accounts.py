"""Account helpers for tests: an admin made the way an operator makes the first one."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from tests.support import Account, RunningServer, make_account


async def set_account_role(server: RunningServer, user_id: str, role: str) -> None:
    """What `ua admin create-user --admin` stores, written straight to the server's database."""
    conn = await asyncpg.connect(server.settings.database_url)
    try:
        await conn.execute("UPDATE users SET role = $2 WHERE id = $1", uuid.UUID(user_id), role)
    finally:
        await conn.close()


async def make_admin(server: RunningServer, client: httpx.AsyncClient) -> Account:
    """A new account with the admin role (its tokens carry the role it had at login, but the
    server reads the current one on every request)."""
    account = await make_account(client)
    await set_account_role(server, account.id, "admin")
    return account
