"""Workflow over REST: complete and reopen phases, and their versions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.responses import PlainTextResponse, Response

from collab.content import prosemirror_to_html
from collab.manager import RoomManager
from server.access import require_role
from server.api import Api, Call
from server.errors import Unavailable
from server.routes.phases import PhaseOut, phase_number, phase_out
from server.workflow import status
from server.workflow.meta import publish_changes
from server.workflow.versions import restore_version, save_version, unified_diff
from storage.repos import phases, versions

api = Api()
PHASE = "/api/projects/{project_id:uuid}/phases/{n:int}"


class VersionIn(BaseModel):
    label: str = Field(min_length=1, max_length=200)


class VersionOut(BaseModel):
    id: uuid.UUID
    number: int
    label: str
    source: Literal["manual", "completion", "ai", "restore"]
    created_by: uuid.UUID | None
    created_at: datetime


class VersionDetail(VersionOut):
    markdown: str
    html: str
    prosemirror: dict[str, Any]


def version_out(v: versions.Version) -> VersionOut:
    return VersionOut.model_validate(v, from_attributes=True)


def rooms_of(call: Call) -> RoomManager:
    if call.services.rooms is None:
        raise Unavailable("live documents are not running")
    return call.services.rooms


async def _target(call: Call, role: Literal["viewer", "editor"]) -> tuple[uuid.UUID, int]:
    project_id: uuid.UUID = call.path("project_id")
    number = phase_number(call)
    await require_role(call.services.db, project_id, call.user_id, role)
    return project_id, number


@api.op("POST", f"{PHASE}/complete", tag="workflow", response=PhaseOut)
async def complete_phase(call: Call) -> PhaseOut:
    """Mark a phase completed (editor or owner); a version is saved with it."""
    project_id, number = await _target(call, "editor")
    change = await status.complete(call.services.db, project_id, number)
    if call.services.settings.version_on_complete:
        await save_version(
            call.services.db,
            rooms_of(call),
            project_id=project_id,
            number=number,
            label="completed",
            source="completion",
            user_id=call.user_id,
        )
    await publish_changes(rooms_of(call), project_id, [change])
    return phase_out(await phases.get_phase(call.services.db, project_id, number))


@api.op("POST", f"{PHASE}/reopen", tag="workflow", response=PhaseOut)
async def reopen_phase(call: Call) -> PhaseOut:
    """Reopen a completed or stale phase (editor or owner)."""
    project_id, number = await _target(call, "editor")
    change = await status.reopen(call.services.db, project_id, number)
    await publish_changes(rooms_of(call), project_id, [change])
    return phase_out(await phases.get_phase(call.services.db, project_id, number))


@api.op("GET", f"{PHASE}/versions", tag="versions", response=list[VersionOut])
async def list_versions(call: Call) -> list[VersionOut]:
    """A phase's versions, newest first."""
    project_id, number = await _target(call, "viewer")
    return [
        version_out(v) for v in await versions.list_versions(call.services.db, project_id, number)
    ]


@api.op(
    "POST", f"{PHASE}/versions", tag="versions", body=VersionIn, response=VersionOut, status=201
)
async def create_version(call: Call) -> VersionOut:
    """Save the phase's current content as a named version (editor or owner)."""
    project_id, number = await _target(call, "editor")
    version = await save_version(
        call.services.db,
        rooms_of(call),
        project_id=project_id,
        number=number,
        label=call.body.label,
        source="manual",
        user_id=call.user_id,
    )
    return version_out(version)


@api.op("GET", f"{PHASE}/versions/{{version_id:uuid}}", tag="versions", response=VersionDetail)
async def get_version(call: Call) -> VersionDetail:
    """One version with its content as markdown, HTML and ProseMirror JSON."""
    project_id, number = await _target(call, "viewer")
    found = await versions.get_version(
        call.services.db, project_id, number, call.path("version_id")
    )
    return VersionDetail(
        **version_out(found.version).model_dump(),
        markdown=found.markdown,
        html=prosemirror_to_html(found.prosemirror),
        prosemirror=found.prosemirror,
    )


@api.op(
    "POST", f"{PHASE}/versions/{{version_id:uuid}}/restore", tag="versions", response=VersionOut
)
async def restore(call: Call) -> VersionOut:
    """Restore a version: one live change for every member, recorded as a new version."""
    project_id, number = await _target(call, "editor")
    version = await restore_version(
        call.services.db,
        rooms_of(call),
        project_id=project_id,
        number=number,
        version_id=call.path("version_id"),
        user_id=call.user_id,
    )
    return version_out(version)


@api.op(
    "GET",
    f"{PHASE}/versions/{{a:uuid}}/diff/{{b:uuid}}",
    tag="versions",
    response=str,
    media_type="text/x-diff",
)
async def diff_versions(call: Call) -> Response:
    """A unified text diff of two versions' markdown."""
    project_id, number = await _target(call, "viewer")
    db = call.services.db
    a = await versions.get_version(db, project_id, number, call.path("a"))
    b = await versions.get_version(db, project_id, number, call.path("b"))
    return PlainTextResponse(unified_diff(a, b), media_type="text/x-diff")
