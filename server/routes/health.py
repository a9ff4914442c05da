"""Liveness, readiness and the OpenAPI document."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.services import Services


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    services: Services = request.app.state.services
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            await services.db.fetchval("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready
        checks["database"] = f"error: {type(exc).__name__}"
    if services.rooms is not None:
        # Accepted edits that could not be written yet: not ready until they are.
        journal = services.rooms.journal
        if journal.failing_since is not None:
            waiting = f"{journal.unsettled_bytes} bytes of edits wait to be written"
            checks["journal"] = f"error: {waiting}"
        else:
            checks["journal"] = "ok"
    if services.settings.redis_url:
        checks["redis"] = await _redis_check(services.settings.redis_url)
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503
    )


async def _redis_check(url: str) -> str:
    client = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        async with asyncio.timeout(2):
            await client.ping()
        return "ok"
    except (RedisError, OSError, TimeoutError) as exc:
        return f"error: {type(exc).__name__}"
    finally:
        await client.aclose()


async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
