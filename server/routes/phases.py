"""/api/projects/{id}/phases: the workflow's 14 phases."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from starlette.responses import Response

from server.access import require_role
from server.api import Api, Call
from server.documents import read_phase
from server.errors import NotFound
from storage.repos import phases

api = Api()

Status = Literal["not_started", "in_progress", "completed", "stale"]


class PhaseOut(BaseModel):
    number: int
    key: str
    title: str
    description: str
    guidance: str
    depends_on: list[int]
    status: Status
    stale_because: str | None
    updated_at: datetime


class ContentOut(BaseModel):
    markdown: str
    html: str
    prosemirror: dict[str, Any]


class PhaseDetail(PhaseOut):
    content: ContentOut | None = None


def phase_out(phase: phases.Phase) -> PhaseOut:
    return PhaseOut(
        number=phase.number,
        key=phase.key,
        title=phase.title,
        description=phase.description,
        guidance=phase.guidance,
        depends_on=list(phase.depends_on),
        status=phase.status,  # type: ignore[arg-type]
        stale_because=phase.stale_because,
        updated_at=phase.updated_at,
    )


def phase_number(call: Call) -> int:
    number: int = call.path("n")
    if not 1 <= number <= 14:
        raise NotFound("phases are numbered 1 to 14")
    return number


@api.op("GET", "/api/projects/{project_id:uuid}/phases", tag="phases", response=list[PhaseOut])
async def list_phases(call: Call) -> list[PhaseOut]:
    """The 14 phases with their status."""
    project_id: uuid.UUID = call.path("project_id")
    await require_role(call.services.db, project_id, call.user_id, "viewer")
    return [phase_out(p) for p in await phases.list_phases(call.services.db, project_id)]


@api.op("GET", "/api/projects/{project_id:uuid}/phases/{n:int}", tag="phases", response=PhaseDetail)
async def get_phase(call: Call) -> Response:
    """One phase, with its content converted from the live document."""
    project_id: uuid.UUID = call.path("project_id")
    number = phase_number(call)
    await require_role(call.services.db, project_id, call.user_id, "viewer")
    phase = await phases.get_phase(call.services.db, project_id, number)
    content = b"null"
    if call.services.rooms is not None:
        content = (await read_phase(call.services.rooms, project_id, number)).body
    return detail_response(phase_out(phase), content)


def detail_response(phase: PhaseOut, content: bytes) -> Response:
    """A PhaseDetail with its `content` spliced in as the JSON it already is: converted and
    encoded in a worker thread (and cached), it is not parsed and encoded again here, on
    the event loop, where megabytes of it would stall every other request."""
    head = phase.model_dump_json().encode()  # a JSON object: ends with "}"
    return Response(head[:-1] + b',"content":' + content + b"}", media_type="application/json")
