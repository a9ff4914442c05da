"""The embedded Postgres 16 + pgvector from the `pgserver` wheel, kept under DATA_DIR/pg."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from storage.errors import DatabaseUnavailable


def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) the embedded server; return an asyncpg-compatible DSN.

    pgserver keeps the server running after this process exits, and a later call reuses it,
    so several `ua` processes share one embedded database.
    """
    try:
        import pgserver
    except ImportError as exc:  # pragma: no cover - the wheel is a dependency
        raise DatabaseUnavailable("pgserver is not installed") from exc
    pgdata = (data_dir / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
        server: Any = pgserver.get_server(  # type: ignore[attr-defined]
            str(pgdata), cleanup_mode=None
        )
    uri: str = server.get_uri()
    return uri
