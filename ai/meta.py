"""Generations in the project meta document: `generations` (id → entry), live for every member.

The phase document's `ai` map holds the text of the one generation of that phase; this map
is the project-wide board: which phases have a generation running, who started it, how each
ended. The node that runs a generation writes its entry at the start and at the end; a node
that settles one it does not run (a cancel, a dead node's leftovers) writes the end.
"""

from __future__ import annotations

import logging
from typing import Any

from pycrdt import Doc, Map

from collab.manager import RoomManager
from collab.types import DocumentName, Origin
from storage.repos.generations import Generation

log = logging.getLogger(__name__)

GENERATIONS = "generations"


def generation_entry(record: Generation) -> dict[str, Any]:
    return {
        "phase": record.phase,
        "status": record.status,
        "model": record.model,
        "started_by": None if record.started_by is None else str(record.started_by),
        "started_at": record.started_at.isoformat(),
        "finished_at": None if record.finished_at is None else record.finished_at.isoformat(),
        "error": record.error,
    }


async def show_generation(rooms: RoomManager, record: Generation) -> None:
    """Set the generation's entry (nothing changes when it already reads the same)."""
    room = await rooms.get(DocumentName(record.project_id, None))
    key, entry = str(record.id), generation_entry(record)

    def change(doc: Doc[Any]) -> None:
        board = doc.get(GENERATIONS, type=Map)
        if board.get(key) != entry:
            board[key] = entry

    room.server_change(change, Origin.AI)


async def show_quietly(rooms: RoomManager, record: Generation) -> None:
    """The board is a view: failing to update it never fails the generation itself."""
    try:
        await show_generation(rooms, record)
    except Exception:
        log.exception("could not show generation %s in the meta document", record.id)
