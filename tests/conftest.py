from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import (
    RunningServer,
    fresh_database,
    redis_server,
    run_server,
    settings_for,
    shared_redis_url,
)


@pytest.fixture(scope="session")
async def database() -> AsyncIterator[str]:
    async with fresh_database() as dsn:
        yield dsn


@pytest.fixture(scope="session")
async def server(
    database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningServer]:
    data_dir: Path = tmp_path_factory.mktemp("data")
    async with run_server(settings_for(database, data_dir)) as running:
        yield running


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client() as c:
        yield c


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL or the local server when one answers, else a private redis-server."""
    url = shared_redis_url()
    if url is not None:
        yield url
        return
    with redis_server() as private:
        yield private
