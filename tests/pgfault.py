"""A private Postgres cluster that a test can stop and start again: same port, same data.

It runs the Postgres 16 (with pgvector) shipped in the `pgserver` wheel, listening on
127.0.0.1 only, trust auth, its socket in its own temporary folder. Postgres refuses to run
as root: as root, the cluster belongs to the system user that pgserver itself uses.

    with private_postgres() as pg:
        dsn = pg.dsn
        pg.stop()     # connections refused until start()
        pg.start()

The cluster is stopped and its folder removed on exit, whatever happened.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

SYSTEM_USER = "pgserver"  # pgserver's own choice for root (postgres_server.py)
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "shared_buffers": "32MB",
    "fsync": "off",  # a process outage, not a machine crash: the page cache survives
    "full_page_writes": "off",
    "log_min_messages": "warning",
}


def _free_port() -> int:
    # Not tests.support's: this module imports nothing of the project's.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pg_bin() -> Path:
    """The wheel's bin folder, found without importing pgserver (it sets things up)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the pgserver wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _as_user() -> dict[str, Any]:
    """subprocess arguments running a command as the cluster's owner (only root switches)."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/bash", SYSTEM_USER], check=True, capture_output=True)
        entry = pwd.getpwnam(SYSTEM_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _ensure_reachable(bin_dir: Path, user: dict[str, Any]) -> None:
    """The owner must reach the wheel's binaries (a checkout under /root is 0700): if it
    cannot, open the path's folders as pgserver itself does for its own server."""
    if not user:
        return
    try:
        subprocess.run(
            [str(bin_dir / "postgres"), "--version"], check=True, capture_output=True, **user
        )
    except (PermissionError, subprocess.CalledProcessError):
        from pgserver.utils import ensure_prefix_permissions

        ensure_prefix_permissions(bin_dir)


@dataclass
class PgFault:
    root: Path
    port: int
    bin: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def dsn_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **_as_user(),
        )

    def _check(self, result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode != 0:
            raise RuntimeError(
                f"{what} failed ({result.returncode}): {result.stderr.strip()}\n"
                f"--- {self.log} ---\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def init(self) -> None:
        result = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        self._check(result, "initdb")
        settings = {
            **SETTINGS,
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    @property
    def running(self) -> bool:
        """pg_ctl status: 0 running, 3 not running."""
        return self._run("pg_ctl", "status", "-D", str(self.data)).returncode == 0

    def start(self) -> None:
        """Start and wait until it accepts connections (same port, same data)."""
        result = self._run(
            "pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30"
        )
        self._check(result, f"pg_ctl start on port {self.port}")

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        """Stop and wait until it is gone: `fast` ends sessions cleanly, `immediate` as a crash."""
        result = self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "30")
        if result.returncode != 0 and self.running:
            self._check(result, "pg_ctl stop")


def _teardown(pg: PgFault) -> None:
    try:
        if pg.data.exists() and pg.running:
            pg.stop("immediate")
    finally:
        shutil.rmtree(pg.root, ignore_errors=True)


@contextlib.contextmanager
def private_postgres(keep_log: Path | None = None) -> Iterator[PgFault]:
    """A new cluster on a free loopback port; stopped and deleted on exit.

    `keep_log`: where to copy the server's log on exit (the cluster's folder is removed).
    """
    root = Path(tempfile.mkdtemp(prefix="ua-pgfault-"))
    user = _as_user()
    if user:
        os.chown(root, user["user"], user["group"])  # initdb makes data/ inside it
    pg = PgFault(root, _free_port(), pg_bin())
    _ensure_reachable(pg.bin, user)
    teardown = functools.partial(_teardown, pg)
    atexit.register(teardown)  # an interpreter that exits mid-test leaves no server behind
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        if keep_log is not None and pg.log.exists():
            shutil.copyfile(pg.log, keep_log)
        atexit.unregister(teardown)
        teardown()
