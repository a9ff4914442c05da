"""Register the tasks on a broker and run the periodic sweep, for a server or a worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from taskiq import InMemoryBroker
from taskiq.api import run_receiver_task

from server.tasks.exports import render_export, sweep_forever
from server.tasks.runtime import Runtime, Tasks, make_broker


@contextlib.asynccontextmanager
async def open_tasks(runtime: Runtime, *, worker: bool = False) -> AsyncIterator[Tasks]:
    broker = make_broker(runtime.settings, worker=worker)

    async def render(export_id: str) -> None:
        await render_export(runtime, export_id)

    task = broker.register_task(render, task_name="ua.render_export")
    await broker.startup()
    try:
        async with asyncio.TaskGroup() as group:
            background = [group.create_task(sweep_forever(runtime), name="export-sweep")]
            if worker:
                background.append(
                    group.create_task(
                        run_receiver_task(
                            broker, max_async_tasks=runtime.settings.task_concurrency
                        ),
                        name="task-receiver",
                    )
                )
            try:
                yield Tasks(broker, task)
                if isinstance(broker, InMemoryBroker):
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(30):
                            await broker.wait_all()  # finish in-process exports first
            finally:
                for job in background:
                    job.cancel()
    finally:
        await broker.shutdown()
