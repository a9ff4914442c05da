"""Versions of a phase: snapshots of its content, and restore as a live CRDT change."""

from __future__ import annotations

import difflib
import uuid
from typing import Any

import asyncpg

from collab.content import (
    prosemirror_to_markdown,
    write_prosemirror,
)
from collab.manager import RoomManager
from collab.types import DocumentName, Origin
from server.documents import content_fragment, content_json
from storage.repos import versions as repo


async def save_version(
    db: asyncpg.Pool,
    rooms: RoomManager,
    *,
    project_id: uuid.UUID,
    number: int,
    label: str,
    source: str,
    user_id: uuid.UUID | None,
) -> repo.Version:
    room = await rooms.get(DocumentName(project_id, number))
    doc = content_json(room.doc)
    return await repo.create_version(
        db,
        project_id=project_id,
        number=number,
        label=label,
        source=source,
        created_by=user_id,
        prosemirror=doc,
        markdown=prosemirror_to_markdown(doc),
    )


async def restore_version(
    db: asyncpg.Pool,
    rooms: RoomManager,
    *,
    project_id: uuid.UUID,
    number: int,
    version_id: uuid.UUID,
    user_id: uuid.UUID,
) -> repo.Version:
    """Replace the content with a version's, as one change every member sees live."""
    version = await repo.get_version(db, project_id, number, version_id)
    room = await rooms.get(DocumentName(project_id, number))
    content: dict[str, Any] = version.prosemirror

    room.server_change(
        lambda doc: write_prosemirror(content_fragment(doc), content, replace=True),
        Origin.SERVER,
    )
    label = f"restored {version.version.label}"
    return await save_version(
        db,
        rooms,
        project_id=project_id,
        number=number,
        label=label[:200],
        source="restore",
        user_id=user_id,
    )


def unified_diff(a: repo.VersionContent, b: repo.VersionContent) -> str:
    lines = difflib.unified_diff(
        a.markdown.splitlines(keepends=True),
        b.markdown.splitlines(keepends=True),
        fromfile=f"{a.version.label} ({a.version.id})",
        tofile=f"{b.version.label} ({b.version.id})",
    )
    return "".join(lines)
