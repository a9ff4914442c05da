"""The task queue: taskiq, in-process by default, Redis-backed with `ua worker` processes.

Tasks are closures over a Runtime (database, rooms, settings), registered on the broker at
start-up: the server registers them on its in-process broker; `ua worker` registers the same
tasks on the Redis broker and receives them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from taskiq import AsyncBroker, InMemoryBroker

from collab.manager import RoomManager
from server.metrics import Metrics
from server.settings import Settings


@dataclass(slots=True)
class Runtime:
    settings: Settings
    db: asyncpg.Pool
    rooms: RoomManager
    metrics: Metrics | None = None


def make_broker(settings: Settings, *, worker: bool = False) -> AsyncBroker:
    """Redis when configured (the server only sends, `ua worker` receives), else in-process."""
    if settings.redis_url and (worker or not settings.tasks_in_process):
        from taskiq_redis import ListQueueBroker

        return ListQueueBroker(settings.redis_url, queue_name=f"{settings.redis_prefix}:tasks")
    return InMemoryBroker(await_inplace=False, max_async_tasks=settings.task_concurrency)


@dataclass(slots=True)
class Tasks:
    """The registered tasks, to send from routes."""

    broker: AsyncBroker
    render_export: Any

    async def queue_export(self, export_id: uuid.UUID) -> None:
        await self.render_export.kiq(str(export_id))
