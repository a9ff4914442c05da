"""/api/projects: projects and their members."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field

from collab.types import PHASE_COUNT, DocumentName
from server.access import Role, require_role
from server.api import Api, Call
from server.errors import Conflict
from server.workflow.template import default_template
from storage.errors import Conflict as StorageConflict
from storage.repos import audit, projects
from storage.sql import Conn

api = Api()


class ProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)


class ProjectPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)


class ProjectOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    template: str
    template_version: int
    role: Role
    created_at: datetime
    updated_at: datetime


class MemberOut(BaseModel):
    user_id: uuid.UUID
    email: str
    display_name: str
    role: Role
    added_at: datetime


class RoleIn(BaseModel):
    role: Role


def project_out(project: projects.Project, role: str) -> ProjectOut:
    return ProjectOut(
        id=project.id,
        name=project.name,
        description=project.description,
        template=project.template_key,
        template_version=project.template_version,
        role=role,  # type: ignore[arg-type]
        created_at=project.created_at,
        updated_at=project.updated_at,
    )


@api.op("POST", "/api/projects", tag="projects", body=ProjectIn, response=ProjectOut, status=201)
async def create_project(call: Call) -> ProjectOut:
    """Create a project with the 14 phases of the default template; you are its owner."""
    body: ProjectIn = call.body
    template = default_template()
    phases = [
        projects.NewPhase(p.number, p.key, p.title, p.description, p.guidance, p.depends_on)
        for p in template.phases
    ]
    async with call.services.db.acquire() as conn, conn.transaction():
        project = await projects.create_project(
            conn,
            owner=call.user_id,
            name=body.name,
            description=body.description,
            template=(template.key, template.version),
            phases=phases,
        )
        await audit.record(
            conn, "project.created", actor=call.user_id, target_project=project.id, name=body.name
        )
    return project_out(project, "owner")


@api.op("GET", "/api/projects", tag="projects", response=list[ProjectOut])
async def list_projects(call: Call) -> list[ProjectOut]:
    """The projects you are a member of."""
    found = await projects.list_projects_for(call.services.db, call.user_id)
    return [project_out(p, role) for p, role in found]


@api.op("GET", "/api/projects/{project_id:uuid}", tag="projects", response=ProjectOut)
async def get_project(call: Call) -> ProjectOut:
    """One project."""
    project_id = call.path("project_id")
    role = await require_role(call.services.db, project_id, call.user_id, "viewer")
    return project_out(await projects.get_project(call.services.db, project_id), role)


@api.op(
    "PATCH",
    "/api/projects/{project_id:uuid}",
    tag="projects",
    body=ProjectPatch,
    response=ProjectOut,
)
async def update_project(call: Call) -> ProjectOut:
    """Rename or describe a project (editor or owner)."""
    body: ProjectPatch = call.body
    project_id = call.path("project_id")
    role = await require_role(call.services.db, project_id, call.user_id, "editor")
    project = await projects.update_project(
        call.services.db, project_id, name=body.name, description=body.description
    )
    return project_out(project, role)


@api.op("DELETE", "/api/projects/{project_id:uuid}", tag="projects")
async def delete_project(call: Call) -> None:
    """Delete a project and everything in it (owner only)."""
    project_id = call.path("project_id")
    await require_role(call.services.db, project_id, call.user_id, "owner")
    project = await projects.get_project(call.services.db, project_id)
    documents = [str(DocumentName(project_id, n)) for n in (*range(1, PHASE_COUNT + 1), None)]
    async with call.services.db.acquire() as conn, conn.transaction():
        files = await projects.delete_project(conn, project_id, documents)
        # The name too: the entry outlives the project it names.
        await audit.record(
            conn,
            "project.deleted",
            actor=call.user_id,
            target_project=project_id,
            name=project.name,
        )
    if call.services.rooms is not None:
        call.services.rooms.membership_changed(project_id, None, None)
    await asyncio.to_thread(_remove_files, call.services.settings.export_dir, files)


def _remove_files(directory: Path, names: list[str]) -> None:
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            (directory / Path(name).name).unlink()  # .name: only ever inside EXPORT_DIR


@api.op("GET", "/api/projects/{project_id:uuid}/members", tag="members", response=list[MemberOut])
async def list_members(call: Call) -> list[MemberOut]:
    """The members of a project."""
    project_id = call.path("project_id")
    await require_role(call.services.db, project_id, call.user_id, "viewer")
    members = await projects.list_members(call.services.db, project_id)
    return [MemberOut.model_validate(m, from_attributes=True) for m in members]


async def _change_member(call: Call, role: Role | None) -> None:
    project_id: uuid.UUID = call.path("project_id")
    user_id: uuid.UUID = call.path("user_id")
    if user_id != call.user_id:
        await require_role(call.services.db, project_id, call.user_id, "owner")
    else:
        await require_role(call.services.db, project_id, call.user_id, "viewer")
        if role is not None:
            await require_role(call.services.db, project_id, call.user_id, "owner")
    try:
        async with call.services.db.acquire() as conn, conn.transaction():
            previous = await projects.change_member(conn, project_id, user_id, role)
            await _audit_change(conn, call.user_id, project_id, user_id, previous, role)
    except StorageConflict as exc:
        raise Conflict(str(exc)) from None
    if call.services.rooms is not None:
        call.services.rooms.membership_changed(project_id, user_id, role)


async def _audit_change(
    conn: Conn,
    actor: uuid.UUID,
    project_id: uuid.UUID,
    user_id: uuid.UUID,
    previous: str,
    role: Role | None,
) -> None:
    if role is None:
        action, details = "member.removed", {"role": previous}
    elif role != previous:
        action, details = "member.role_changed", {"from": previous, "to": role}
    else:
        return  # setting the role a member has changes nothing: no entry
    await audit.record(
        conn, action, actor=actor, target_user=user_id, target_project=project_id, **details
    )


@api.op(
    "PATCH",
    "/api/projects/{project_id:uuid}/members/{user_id:uuid}",
    tag="members",
    body=RoleIn,
)
async def change_member_role(call: Call) -> None:
    """Change a member's role (owner only; the last owner stays an owner)."""
    await _change_member(call, call.body.role)


@api.op("DELETE", "/api/projects/{project_id:uuid}/members/{user_id:uuid}", tag="members")
async def remove_member(call: Call) -> None:
    """Remove a member (owner), or leave a project yourself; the last owner can't leave."""
    await _change_member(call, None)
