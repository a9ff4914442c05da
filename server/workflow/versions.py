"""Versions of a phase: snapshots of its content, and restore as a live CRDT change."""

from __future__ import annotations

import asyncio
import difflib
import uuid
from typing import Any

import asyncpg

from collab.content import InvalidContent, write_prosemirror
from collab.manager import RoomManager
from collab.types import DocumentName, Origin
from server.documents import content_fragment, read_phase
from server.errors import Invalid
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
    content = await read_phase(rooms, project_id, number)
    return await repo.create_version(
        db,
        project_id=project_id,
        number=number,
        label=label,
        source=source,
        created_by=user_id,
        prosemirror=await asyncio.to_thread(content.prosemirror),
        markdown=content.markdown,
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

    try:  # what was read from a fragment is written back as it was, unknown nodes too
        room.server_change(
            lambda doc: write_prosemirror(
                content_fragment(doc), content, replace=True, known_only=False
            ),
            Origin.SERVER,
        )
    except InvalidContent as exc:  # raised before the fragment was touched
        raise Invalid(f"this version cannot be restored: {exc}") from None
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


NO_NEWLINE = "\\ No newline at end of file\n"


def unified_diff(a: repo.VersionContent, b: repo.VersionContent) -> str:
    """A unified diff `patch` applies: a last line without a newline gets the marker line
    that says so, instead of running into the next line of the diff."""
    lines = difflib.unified_diff(
        _lines(a.markdown),
        _lines(b.markdown),
        fromfile=_header(a.version),
        tofile=_header(b.version),
    )
    return "".join(line if line.endswith("\n") else f"{line}\n{NO_NEWLINE}" for line in lines)


def _lines(text: str) -> list[str]:
    """Lines as `patch` sees them: split at "\n" only (str.splitlines also splits at \r,
    \f, U+2028 and more, which a patch tool would take as part of the line)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _header(version: repo.Version) -> str:
    """`label (id)` on one line: a label is free text, a line break would end the header."""
    label = "".join(" " if ch.isspace() else ch for ch in version.label)
    return f"{label} ({version.id})"
