"""The `ua` command: serve, migrate, admin."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import signal
import sys
import uuid
from collections.abc import Coroutine

import asyncpg
import redis.asyncio as aioredis
import uvicorn
from redis.exceptions import RedisError
from starlette.applications import Starlette

from collab.manager import ACCOUNT, CONTROL
from collab.pubsub.redis import SEPARATOR
from server.auth.passwords import PasswordHasher, password_problems
from server.auth.resets import issue_reset
from server.lifespan import database_config
from server.logs import configure_logging
from server.settings import Settings, SettingsError, load_settings
from storage.db import open_database
from storage.errors import Conflict
from storage.repos import admin as accounts
from storage.repos import users


def app_factory() -> Starlette:
    """uvicorn's factory: each worker process builds its app from the environment."""
    from server.app import create_app

    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def serve(args: argparse.Namespace, settings: Settings) -> int:
    configure_logging(settings.log_level)
    if args.workers > 1 and not settings.redis_url:
        # Each worker holds its own replica of a room; without Redis they would not hear
        # each other's edits until the next load.
        print("--workers > 1 needs REDIS_URL so the workers share rooms", file=sys.stderr)
        return 2
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    # The flags win over the settings in every worker process too, which build their app
    # (and log where they listen) from the environment.
    os.environ.update(HOST=host, PORT=str(port))
    uvicorn.run(
        "server.cli:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        log_config=None,
        ws_max_size=settings.ws_max_message_bytes,
        # Compressing small CRDT frames costs more CPU than it saves bandwidth.
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ws_ping_interval_s,
        ws_ping_timeout=settings.ws_idle_timeout_s,  # a silent client is dropped
        timeout_graceful_shutdown=10,
        # uvicorn's own handling trusts 127.0.0.1 by default; server/proxies.py decides instead,
        # from TRUSTED_PROXIES.
        proxy_headers=False,
    )
    return 0


async def _migrate(settings: Settings) -> None:
    async with open_database(database_config(settings)):
        pass


async def _create_user(settings: Settings, email: str, password: str, admin: bool) -> None:
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib
    )
    async with open_database(database_config(settings)) as db:
        existing = await users.find_by_email(db, email)
        role = "admin" if admin else "user"
        if existing is not None:
            # Only ever a promotion here: a demotion goes through `set_role`'s last-admin
            # guard and audit (the admin API), never as a side effect of re-creating.
            if admin and existing.role != "admin":
                await accounts.set_role(db, existing.id, "admin", actor=None)
            print(f"{email} exists; its role is {'admin' if admin else existing.role}")
            return
        await users.create_user(
            db, email, email.partition("@")[0], await hasher.hash(password), role
        )
        print(f"created {role} {email}")


def create_user(args: argparse.Namespace, settings: Settings) -> int:
    password = args.password or getpass.getpass("password: ")
    problems = password_problems(password, args.email)
    if problems:
        print("password " + "; ".join(problems), file=sys.stderr)
        return 2
    try:
        asyncio.run(_create_user(settings, args.email, password, args.admin))
    except Conflict as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


async def _list_users(settings: Settings, query: str) -> None:
    async with open_database(database_config(settings)) as db:
        after: str | None = None
        while True:
            page = await accounts.list_accounts(db, query=query, after=after, limit=500)
            for a in page.accounts:
                state = "disabled" if a.disabled_at else "enabled"
                print(f"{a.email}\t{a.role}\t{state}\t{a.created_at:%Y-%m-%d}\t{a.id}")
            if page.next_after is None:
                return
            after = page.next_after


def list_users(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(_list_users(settings, args.query))
    return 0


class _Refused(Exception):
    """What an admin command reports on stderr with exit status 1."""


async def _account_id(db: asyncpg.Pool, email: str) -> uuid.UUID:
    account = await accounts.find_account(db, email)
    if account is None:
        raise _Refused(f"no account with the email {email}")
    return account.id


async def _close_sockets(settings: Settings, user_id: uuid.UUID) -> str:
    """Ask every running node to close the account's sockets: the control message a node
    sends (RoomManager.account_closed), on the Redis channel they all follow."""
    if not settings.redis_url:
        return "no REDIS_URL to reach the server: its open connections stay until they end"
    client = aioredis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    message = json.dumps({"kind": ACCOUNT, "user": str(user_id)}).encode()
    try:
        async with asyncio.timeout(10):
            nodes = await client.publish(
                f"{settings.redis_prefix}:{CONTROL}", b"cli" + SEPARATOR + message
            )
    except (RedisError, OSError, TimeoutError) as exc:
        return f"warning: Redis unreachable ({exc}): open connections stay until they end"
    finally:
        await client.aclose()
    return f"asked {nodes} running node(s) to close its connections"


async def _set_disabled(settings: Settings, email: str, disabled: bool) -> None:
    async with open_database(database_config(settings)) as db:
        user_id = await _account_id(db, email)
        try:
            changed = await accounts.set_disabled(db, user_id, disabled, actor=None)
        except Conflict as exc:
            raise _Refused(str(exc)) from None
    state = "disabled" if disabled else "enabled"
    print(f"{email} {state}" if changed else f"{email} was already {state}")
    if disabled:  # even if it already was: this closes what an earlier run missed
        print(await _close_sockets(settings, user_id))


async def _reset_password(settings: Settings, email: str) -> None:
    async with open_database(database_config(settings)) as db:
        issued = await issue_reset(db, await _account_id(db, email), actor=None)
    print(f"reset token for {email} (single use, expires {issued.expires_at:%Y-%m-%d %H:%M} UTC):")
    print(issued.token)
    print("the user sets a new password with POST /api/auth/password-reset {token, new_password}")


def run_admin(command: Coroutine[None, None, None]) -> int:
    try:
        asyncio.run(command)
    except _Refused as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


async def _work(settings: Settings) -> None:
    """A headless node: rooms over Redis (to write meta documents) and the task receiver."""
    from server.metrics import Metrics
    from server.realtime import open_rooms
    from server.tasks.runtime import Runtime
    from server.tasks.setup import open_tasks

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with (
        open_database(database_config(settings)) as db,
        open_rooms(settings, db) as rooms,
        open_tasks(Runtime(settings, db, rooms, Metrics()), worker=True),
    ):
        logging.getLogger("ua.worker").info("worker ready")
        await stop.wait()


def worker(args: argparse.Namespace, settings: Settings) -> int:
    configure_logging(settings.log_level)
    if not settings.redis_url:
        print(
            "ua worker needs REDIS_URL (without it the server runs tasks itself)", file=sys.stderr
        )
        return 2
    asyncio.run(_work(settings))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="ua", description="Unified Assistant server")
    commands = root.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the HTTP and websocket server")
    serve_cmd.add_argument("--host")
    serve_cmd.add_argument("--port", type=int)
    serve_cmd.add_argument("--workers", type=int, default=1)
    serve_cmd.set_defaults(run=serve)
    worker_cmd = commands.add_parser("worker", help="run background tasks (exports) from Redis")
    worker_cmd.set_defaults(run=worker)
    migrate_cmd = commands.add_parser("migrate", help="apply database migrations")
    migrate_cmd.set_defaults(run=lambda a, s: asyncio.run(_migrate(s)) or 0)
    admin = commands.add_parser("admin", help="administration").add_subparsers(
        dest="admin_command", required=True
    )
    create = admin.add_parser("create-user", help="create a user (or set the role of one)")
    create.add_argument("email")
    create.add_argument("--admin", action="store_true")
    create.add_argument("--password", help="read from a prompt when omitted")
    create.set_defaults(run=create_user)
    listing = admin.add_parser("list-users", help="list accounts (email, role, state, id)")
    listing.add_argument("--query", default="", help="part of an email or display name")
    listing.set_defaults(run=list_users)
    for name, disabled, text in (
        ("disable", True, "disable an account: no sign-in, sessions revoked, sockets closed"),
        ("enable", False, "enable a disabled account"),
    ):
        cmd = admin.add_parser(name, help=text)
        cmd.add_argument("email")
        cmd.set_defaults(run=lambda a, s, d=disabled: run_admin(_set_disabled(s, a.email, d)))
    reset = admin.add_parser("reset-password", help="print a one-time password reset token")
    reset.add_argument("email")
    reset.set_defaults(run=lambda a, s: run_admin(_reset_password(s, a.email)))
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    result: int = args.run(args, settings)
    return result


if __name__ == "__main__":
    sys.exit(main())
