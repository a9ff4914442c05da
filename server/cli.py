"""The `ua` command: serve, migrate, admin."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys

import uvicorn
from starlette.applications import Starlette

from server.auth.passwords import PasswordHasher, password_problems
from server.lifespan import database_config
from server.logs import configure_logging
from server.settings import Settings, SettingsError, load_settings
from storage.db import open_database
from storage.errors import Conflict
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
            await users.set_role(db, existing.id, role)
            print(f"{email} exists; role set to {role}")
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
