"""Access re-checked for every local socket, when control messages may have been lost.

Membership changes and disabled accounts reach other nodes as control messages over pub/sub.
When Redis drops some, those nodes would keep serving a removed member, a demoted editor or
a disabled account; one query puts each local peer back on what the database says.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from collab.manager import RoomManager
from collab.types import DocumentName
from storage.errors import UNREACHABLE

log = logging.getLogger(__name__)

RETRY_S = 2.0  # the database may be away too
_running: set[asyncio.Task[None]] = set()  # referenced until done (the loop keeps weak refs)


async def revalidate_peers(db: asyncpg.Pool, rooms: RoomManager) -> int:
    """Apply the current role (or no access) of every local peer; return the peers checked."""
    pairs = {
        (DocumentName.parse(room.name).project_id, peer.user_id)
        for room in rooms.rooms()
        for peer in room.peers
        if peer.user_id is not None
    }
    if not pairs:
        return 0
    projects, users = zip(*pairs, strict=True)
    rows = await db.fetch(
        "SELECT p.project_id, p.user_id, m.role"
        " FROM unnest($1::uuid[], $2::uuid[]) AS p (project_id, user_id)"
        " LEFT JOIN (project_members m JOIN users u ON u.id = m.user_id AND u.disabled_at IS NULL)"
        " ON m.project_id = p.project_id AND m.user_id = p.user_id",
        list(projects),
        list(users),
    )
    for row in rows:
        rooms.revoke(row["project_id"], row["user_id"], row["role"])
    return len(rows)


def revalidate_soon(db: asyncpg.Pool, rooms: RoomManager) -> None:
    """Schedule a re-check (the manager calls this from its control loop)."""
    task = asyncio.get_running_loop().create_task(_revalidate(db, rooms), name="revalidate")
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _revalidate(db: asyncpg.Pool, rooms: RoomManager) -> None:
    while True:
        try:
            checked = await revalidate_peers(db, rooms)
            log.info("re-checked the access of %d local peers", checked)
            return
        except UNREACHABLE as exc:
            log.warning("access re-check waits for the database: %s", exc)
            await asyncio.sleep(RETRY_S)
