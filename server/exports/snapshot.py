"""A project snapshot for rendering, taken from the live documents (the rooms)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg

from collab.manager import RoomManager
from server.documents import read_phase
from server.exports.model import ExportMember, ExportPhase, ExportProject, ExportVersion
from storage.repos import phases, projects, versions


async def _phase(db: asyncpg.Pool, rooms: RoomManager, phase: phases.Phase) -> ExportPhase:
    content = await read_phase(rooms, phase.project_id, phase.number)
    found = await versions.list_versions(db, phase.project_id, phase.number)
    return ExportPhase(
        number=phase.number,
        key=phase.key,
        title=phase.title,
        description=phase.description,
        status=phase.status,
        updated_at=phase.updated_at,
        content=await asyncio.to_thread(content.prosemirror),
        markdown=content.markdown,
        versions=tuple(ExportVersion(v.id, v.label, v.source, v.created_at) for v in found),
    )


async def take_snapshot(
    db: asyncpg.Pool, rooms: RoomManager, project_id: uuid.UUID, numbers: tuple[int, ...] | None
) -> ExportProject:
    project = await projects.get_project(db, project_id)
    members = await projects.list_members(db, project_id)
    selected = [
        p
        for p in await phases.list_phases(db, project_id)
        if numbers is None or p.number in numbers
    ]
    return ExportProject(
        id=project.id,
        name=project.name,
        description=project.description,
        template=f"{project.template_key} v{project.template_version}",
        generated_at=datetime.now(UTC),
        members=tuple(ExportMember(m.display_name, m.email, m.role) for m in members),
        phases=tuple([await _phase(db, rooms, p) for p in selected]),
    )
