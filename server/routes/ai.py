"""AI over REST: generate (202, or SSE), list, show, cancel, accept; semantic search."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints
from starlette.responses import Response, StreamingResponse

from ai.errors import QuotaExceeded
from ai.generations import Request
from ai.prompts import PhaseBrief
from ai.streaming import Run
from collab.content import markdown_to_prosemirror, write_prosemirror
from collab.types import DocumentName, Origin
from server.access import require_role
from server.api import Api, Call
from server.assistant import Assistant
from server.documents import content_fragment, read_phase
from server.errors import Conflict, Invalid, TooManyRequests, Unavailable
from server.routes.phases import phase_number
from server.workflow.versions import save_version
from storage.repos import generations, phases

api = Api()
QUOTA_RETRY_AFTER_S = 10  # a generation usually streams for tens of seconds


class GenerateIn(BaseModel):
    instructions: str = Field(default="", max_length=8000)
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)


class GenerationOut(BaseModel):
    id: uuid.UUID
    phase: int
    status: Literal["streaming", "done", "cancelled", "error"]
    model: str
    instructions: str
    temperature: float
    max_tokens: int
    started_by: uuid.UUID | None
    text: str
    error: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    started_at: datetime
    first_token_at: datetime | None
    finished_at: datetime | None
    accepted_at: datetime | None
    accepted_mode: str | None


class GenerationDetail(GenerationOut):
    prompt: list[dict[str, str]]


class AcceptIn(BaseModel):
    mode: Literal["append", "replace"] = "append"


class SearchHit(BaseModel):
    phase: int
    chunk: int
    score: float
    text: str


def assistant_of(call: Call) -> Assistant:
    if call.services.assistant is None:
        raise Unavailable("the assistant is not running")
    return call.services.assistant


def generation_out(record: generations.Generation) -> GenerationOut:
    return GenerationOut.model_validate(record, from_attributes=True)


async def _request(call: Call, project_id: uuid.UUID, number: int) -> Request:
    body: GenerateIn = call.body
    limit = call.services.settings.ai_max_tokens
    if body.max_tokens is not None and body.max_tokens > limit:
        raise Invalid(f"max_tokens is at most {limit}")
    all_phases = await phases.list_phases(call.services.db, project_id)
    phase = all_phases[number - 1]
    current = await read_phase(assistant_of(call).rooms, project_id, number)
    return Request(
        project_id=project_id,
        phase=PhaseBrief(phase.number, phase.title, phase.description, phase.guidance),
        depends_on=phase.depends_on,
        titles={p.number: p.title for p in all_phases},
        current="\n\n".join(current.blocks()),
        instructions=body.instructions,
        temperature=body.temperature,
        max_tokens=body.max_tokens or min(1024, limit),
        user_id=call.user_id,
    )


def _sse(run: Run) -> StreamingResponse:
    queue: asyncio.Queue[str | None] = asyncio.Queue(10_000)
    run.listeners.add(queue)

    async def events() -> AsyncIterator[str]:
        yield f"event: start\ndata: {json.dumps({'id': str(run.id)})}\n\n"
        try:
            while (delta := await queue.get()) is not None:
                yield f"data: {json.dumps({'delta': delta})}\n\n"
            end = {"id": str(run.id), "status": run.outcome.status, "error": run.outcome.error}
            yield f"event: end\ndata: {json.dumps(end)}\n\n"
        finally:
            run.listeners.discard(queue)

    return StreamingResponse(events(), media_type="text/event-stream", status_code=200)


@api.op(
    "POST",
    "/api/projects/{project_id:uuid}/phases/{n:int}/generate",
    tag="ai",
    body=GenerateIn,
    response=GenerationOut,
    status=202,
)
async def generate(call: Call) -> Response | GenerationOut:
    """Draft a phase with the AI (editor or owner): 202 with the generation, or SSE tokens."""
    project_id: uuid.UUID = call.path("project_id")
    number = phase_number(call)
    await require_role(call.services.db, project_id, call.user_id, "editor")
    assistant = assistant_of(call)
    try:
        run = await assistant.generations.start(await _request(call, project_id, number))
    except QuotaExceeded as exc:
        raise TooManyRequests(
            exc.detail, headers={"Retry-After": str(QUOTA_RETRY_AFTER_S)}
        ) from None
    if "text/event-stream" in call.request.headers.get("accept", ""):
        return _sse(run)
    return generation_out(await generations.get(call.services.db, project_id, run.id))


@api.op(
    "GET", "/api/projects/{project_id:uuid}/generations", tag="ai", response=list[GenerationOut]
)
async def list_generations(call: Call) -> list[GenerationOut]:
    """A project's generations, newest first."""
    project_id: uuid.UUID = call.path("project_id")
    await require_role(call.services.db, project_id, call.user_id, "viewer")
    return [generation_out(g) for g in await generations.list_for(call.services.db, project_id)]


@api.op(
    "GET",
    "/api/projects/{project_id:uuid}/generations/{gid:uuid}",
    tag="ai",
    response=GenerationDetail,
)
async def get_generation(call: Call) -> GenerationDetail:
    """One generation: who, prompt, model, temperature, tokens, timings, status, error."""
    project_id: uuid.UUID = call.path("project_id")
    await require_role(call.services.db, project_id, call.user_id, "viewer")
    record = await generations.get(call.services.db, project_id, call.path("gid"))
    return GenerationDetail.model_validate(record, from_attributes=True)


@api.op(
    "POST",
    "/api/projects/{project_id:uuid}/generations/{gid:uuid}/cancel",
    tag="ai",
    response=GenerationOut,
)
async def cancel_generation(call: Call) -> GenerationOut:
    """Stop a running generation (any editor); the partial text is kept."""
    project_id: uuid.UUID = call.path("project_id")
    await require_role(call.services.db, project_id, call.user_id, "editor")
    record = await assistant_of(call).generations.cancel(project_id, call.path("gid"))
    return generation_out(record)


@api.op(
    "POST",
    "/api/projects/{project_id:uuid}/generations/{gid:uuid}/accept",
    tag="ai",
    body=AcceptIn,
    response=GenerationOut,
)
async def accept_generation(call: Call) -> GenerationOut:
    """Turn a generation's markdown into content nodes (append or replace); versions around it."""
    project_id: uuid.UUID = call.path("project_id")
    await require_role(call.services.db, project_id, call.user_id, "editor")
    db, mode = call.services.db, call.body.mode
    record = await generations.get(db, project_id, call.path("gid"))
    if record.status == "streaming" or not record.text.strip():
        raise Conflict(f"nothing to accept: the generation is {record.status}")
    rooms = assistant_of(call).rooms

    async def snapshot(label: str) -> None:
        await save_version(
            db,
            rooms,
            project_id=project_id,
            number=record.phase,
            label=label,
            source="ai",
            user_id=call.user_id,
        )

    await snapshot("before AI accept")
    room = await rooms.get(DocumentName(project_id, record.phase))
    content = markdown_to_prosemirror(record.text)
    room.server_change(
        lambda doc: write_prosemirror(content_fragment(doc), content, replace=mode == "replace"),
        Origin.AI,
    )
    await snapshot(f"AI accepted ({mode})")
    await generations.mark_accepted(db, record.id, mode)
    return generation_out(await generations.get(db, project_id, record.id))


class SearchQuery(BaseModel):
    q: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    k: int = Field(default=5, ge=1, le=50)


@api.op(
    "GET",
    "/api/projects/{project_id:uuid}/search",
    tag="ai",
    response=list[SearchHit],
    query=SearchQuery,
)
async def search(call: Call) -> list[SearchHit]:
    """Semantic search over the project's phases: ?q=text&k=5 (members only)."""
    project_id: uuid.UUID = call.path("project_id")
    await require_role(call.services.db, project_id, call.user_id, "viewer")
    params: SearchQuery = call.query
    hits = await assistant_of(call).index.search(project_id, params.q, params.k)
    return [SearchHit(phase=h.phase, chunk=h.chunk_index, score=h.score, text=h.text) for h in hits]
