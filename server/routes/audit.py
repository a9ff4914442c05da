"""The audit log, read: every entry by admins, a project's own entries by its owners."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from server.access import require_admin, require_role
from server.api import Api, Call
from storage.repos import audit

api = Api()

MAX_LIMIT = 200


class ProjectAuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt filter must not widen the search

    since: datetime | None = Field(default=None, description="ISO timestamp; naive means UTC")
    before: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="the `next` of the previous page"
    )
    limit: int = Field(default=50, ge=1, le=MAX_LIMIT)

    @field_validator("since")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # Postgres gets it in UTC: an edge-of-range time with an offset can't be converted,
        # and asyncpg would read a naive one as the server's local time.
        if value is None:
            return None
        try:
            return value.replace(tzinfo=value.tzinfo or UTC).astimezone(UTC)
        except OverflowError:
            raise ValueError("out of range") from None


class AuditQuery(ProjectAuditQuery):
    actor: uuid.UUID | None = Field(default=None, description="the account that acted")
    target: uuid.UUID | None = Field(default=None, description="an account or a project id")


class EntryOut(BaseModel):
    id: int
    at: datetime
    actor: uuid.UUID | None = Field(description="null: the `ua` command line")
    actor_email: str | None = Field(description="null when the actor's account is gone")
    action: str
    target_user: uuid.UUID | None
    target_project: uuid.UUID | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    entries: list[EntryOut] = Field(description="newest first")
    next: int | None = Field(description="pass as `before` for the next page; null on the last")


async def _page(call: Call, query: ProjectAuditQuery, **filters: uuid.UUID | None) -> AuditPage:
    found = await audit.search(
        call.services.db,
        **filters,
        since=query.since,
        before_id=query.before,
        limit=query.limit + 1,  # one more than asked tells whether there is a next page
    )
    entries = [EntryOut.model_validate(e, from_attributes=True) for e in found[: query.limit]]
    more = len(found) > query.limit
    return AuditPage(entries=entries, next=entries[-1].id if more else None)


@api.op("GET", "/api/admin/audit", tag="audit", response=AuditPage, query=AuditQuery)
async def search_audit(call: Call) -> AuditPage:
    """The audit log, newest first: ?actor=&target=&since=&before=&limit= (admins only)."""
    require_admin(call.principal)
    query: AuditQuery = call.query
    return await _page(call, query, actor=query.actor, target=query.target)


@api.op(
    "GET",
    "/api/projects/{project_id:uuid}/audit",
    tag="audit",
    response=AuditPage,
    query=ProjectAuditQuery,
)
async def project_audit(call: Call) -> AuditPage:
    """A project's audit log, newest first: ?since=&before=&limit= (owner only)."""
    project_id: uuid.UUID = call.path("project_id")
    await require_role(call.services.db, project_id, call.user_id, "owner")
    return await _page(call, call.query, target_project=project_id)
