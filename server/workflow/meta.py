"""The project meta document: the server's live view of statuses for every member."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from pycrdt import Doc, Map

from collab.manager import RoomManager
from collab.room import Room
from collab.types import DocumentName, Origin
from storage.repos.phases import Phase, StatusChange


def phase_entry(change: StatusChange | Phase) -> dict[str, Any]:
    return {
        "status": change.status,
        "title": change.title,
        "updated_at": change.updated_at.isoformat(),
        "stale_because": change.stale_because,
    }


def write_phases(room: Room, entries: dict[int, dict[str, Any]]) -> None:
    """Set the entries that differ: a no-op when a node reloads an up-to-date meta document."""

    def change(doc: Doc[Any]) -> None:
        phases = doc.get("phases", type=Map)
        for number, entry in entries.items():
            key = str(number)
            if phases.get(key) != entry:
                phases[key] = entry

    room.server_change(change, Origin.SERVER)


async def publish_changes(
    rooms: RoomManager,
    project_id: uuid.UUID,
    changes: Iterable[StatusChange],
) -> None:
    room = await rooms.get(DocumentName(project_id, None))
    write_phases(room, {c.number: phase_entry(c) for c in changes})


def seed_meta(room: Room, phases: list[Phase]) -> None:
    write_phases(room, {p.number: phase_entry(p) for p in phases})
