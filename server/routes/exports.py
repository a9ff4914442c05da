"""Exports: request one (202), follow it, download the file (members only)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from starlette.responses import FileResponse, Response

from server.access import require_role
from server.api import Api, Call
from server.errors import Conflict, Gone, TooManyRequests, Unavailable
from storage.repos import exports, projects

api = Api()
QUOTA_RETRY_AFTER_S = 5  # exports take seconds: a slot frees up soon

Format = Literal["pdf", "docx", "json"]
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "json": "application/json",
}


class ExportIn(BaseModel):
    format: Format
    phases: list[int] | None = Field(default=None, min_length=1, max_length=14)

    @field_validator("phases")
    @classmethod
    def _numbers(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(not 1 <= n <= 14 for n in value):
            raise ValueError("phases are numbered 1 to 14")
        return None if value is None else sorted(set(value))


class ExportOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    format: Format
    phases: list[int] | None
    status: Literal["queued", "running", "done", "failed", "expired"]
    progress: int
    size: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime | None
    download_url: str | None


def export_out(export: exports.Export) -> ExportOut:
    done = export.status == "done"
    return ExportOut(
        id=export.id,
        project_id=export.project_id,
        format=export.format,  # type: ignore[arg-type]
        phases=None if export.phases is None else list(export.phases),
        status=export.status,  # type: ignore[arg-type]
        progress=export.progress,
        size=export.size,
        error=export.error,
        created_at=export.created_at,
        finished_at=export.finished_at,
        expires_at=export.expires_at,
        download_url=f"/api/exports/{export.id}/download" if done else None,
    )


@api.op(
    "POST",
    "/api/projects/{project_id:uuid}/exports",
    tag="exports",
    body=ExportIn,
    response=ExportOut,
    status=202,
)
async def request_export(call: Call) -> ExportOut:
    """Queue an export of the project (any member); follow it at /api/exports/{id}."""
    body: ExportIn = call.body
    project_id: uuid.UUID = call.path("project_id")
    await require_role(call.services.db, project_id, call.user_id, "viewer")
    if call.services.tasks is None:
        raise Unavailable("the task queue is not running")
    settings = call.services.settings
    export = await exports.create_export(
        call.services.db,
        project_id,
        body.format,
        body.phases,
        call.user_id,
        max_per_user=settings.export_max_pending_per_user,
        max_per_project=settings.export_max_pending_per_project,
    )
    if isinstance(export, exports.OverQuota):
        raise TooManyRequests(_refusal(export), headers={"Retry-After": str(QUOTA_RETRY_AFTER_S)})
    await call.services.tasks.queue_export(export.id)
    return export_out(export)


def _refusal(over: exports.OverQuota) -> str:
    whose = "you have" if over.scope == "user" else "this project has"
    return f"{whose} {over.limit} exports queued or running, the most allowed; wait for one"


@api.op("GET", "/api/projects/{project_id:uuid}/exports", tag="exports", response=list[ExportOut])
async def list_exports(call: Call) -> list[ExportOut]:
    """A project's exports, newest first."""
    project_id: uuid.UUID = call.path("project_id")
    await require_role(call.services.db, project_id, call.user_id, "viewer")
    return [export_out(e) for e in await exports.list_exports(call.services.db, project_id)]


async def _visible(call: Call) -> exports.Export:
    export = await exports.get_export(call.services.db, call.path("export_id"))
    await require_role(call.services.db, export.project_id, call.user_id, "viewer")
    return export


@api.op("GET", "/api/exports/{export_id:uuid}", tag="exports", response=ExportOut)
async def get_export(call: Call) -> ExportOut:
    """An export's status, progress and download URL."""
    return export_out(await _visible(call))


def download_name(project_name: str, export: exports.Export) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", project_name).strip("-").lower()[:60] or "project"
    return f"{slug}-{export.created_at:%Y%m%d-%H%M}.{export.format}"


@api.op("GET", "/api/exports/{export_id:uuid}/download", tag="exports", response=bytes)
async def download_export(call: Call) -> Response:
    """The rendered file (members only); 410 once it has expired."""
    export = await _visible(call)
    if export.status == "expired":
        raise Gone("this export has expired; request a new one")
    if export.status != "done" or export.file_name is None:
        raise Conflict(f"the export is {export.status}")
    path = call.services.settings.export_dir / export.file_name
    if not path.exists():
        raise Gone("the file is no longer available; request a new export")
    project = await projects.get_project(call.services.db, export.project_id)
    return FileResponse(
        path,
        media_type=CONTENT_TYPES[export.format],
        filename=download_name(project.name, export),
    )
