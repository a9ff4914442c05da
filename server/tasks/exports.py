"""The export task: claim, snapshot the live documents, render off the loop, store the file."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from pathlib import Path
from typing import Any

from pycrdt import Doc, Map

from collab.types import DocumentName, Origin
from server.exports.snapshot import take_snapshot
from server.tasks.runtime import Runtime
from storage.repos import exports

log = logging.getLogger(__name__)


async def show_export(runtime: Runtime, export: exports.Export) -> None:
    """Mirror an export's state into the project meta document, for every member live."""
    room = await runtime.rooms.get(DocumentName(export.project_id, None))
    entry = {"format": export.format, "status": export.status, "progress": export.progress}

    def change(doc: Doc[Any]) -> None:
        doc.get("exports", type=Map)[str(export.id)] = entry

    room.server_change(change, Origin.SERVER)


class _Progress:
    """Rendering runs in a thread; it reports here and a heartbeat on the loop publishes."""

    def __init__(self) -> None:
        self.value = 5

    def __call__(self, percent: int) -> None:
        self.value = max(self.value, min(99, int(percent)))


async def _beat(runtime: Runtime, export: exports.Export, progress: _Progress) -> None:
    shown = -1
    while True:
        await exports.set_progress(runtime.db, export.id, progress.value)
        if progress.value != shown:
            shown = progress.value
            current = await exports.get_export(runtime.db, export.id)
            await show_export(runtime, current)
        await asyncio.sleep(runtime.settings.export_heartbeat_s)


def _write(directory: Path, name: str, data: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{name}.partial"
    partial.write_bytes(data)
    partial.replace(directory / name)  # atomic: a download never sees half a file


async def _render(runtime: Runtime, export: exports.Export, progress: _Progress) -> None:
    from server.exports.render import render

    snapshot = await take_snapshot(runtime.db, runtime.rooms, export.project_id, export.phases)
    started = time.perf_counter()
    fmt: Any = export.format
    data, _, extension = await asyncio.to_thread(render, fmt, snapshot, progress)
    if runtime.metrics is not None:
        runtime.metrics.export_seconds.labels(export.format).observe(time.perf_counter() - started)
    name = f"{export.id}.{extension}"
    await asyncio.to_thread(_write, runtime.settings.export_dir, name, data)
    settings = runtime.settings
    done = await exports.finish(
        runtime.db, export.id, file_name=name, size=len(data), ttl_s=settings.export_ttl_s
    )
    await show_export(runtime, done)


async def render_export(runtime: Runtime, export_id: str) -> None:
    export = await exports.claim(runtime.db, uuid.UUID(export_id))
    if export is None:
        return  # already taken, finished or gone
    progress = _Progress()
    try:
        async with asyncio.TaskGroup() as group:
            beat = group.create_task(_beat(runtime, export, progress))
            try:
                await _render(runtime, export, progress)
            finally:
                beat.cancel()
    except Exception as exc:
        log.exception("export %s failed", export.id)
        failed = await exports.fail(runtime.db, export.id, _describe(exc))
        if failed is not None:
            await show_export(runtime, failed)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


async def sweep_exports(runtime: Runtime) -> None:
    """Fail exports abandoned by a dead worker or never taken; expire old files, delete them."""
    settings = runtime.settings
    abandoned = await exports.fail_abandoned(
        runtime.db, settings.export_heartbeat_s * 10, settings.export_queue_timeout_s
    )
    for export in abandoned:
        log.warning("export %s failed: %s", export.id, export.error)
        await show_export(runtime, export)
    for export in await exports.expire_due(runtime.db):
        if export.file_name:
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread((settings.export_dir / export.file_name).unlink)
        await show_export(runtime, export)


async def sweep_forever(runtime: Runtime) -> None:
    while True:
        try:
            await sweep_exports(runtime)
        except Exception:
            log.exception("export sweep failed")
        await asyncio.sleep(runtime.settings.export_sweep_s)
