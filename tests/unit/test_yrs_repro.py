"""The upstream reproduction runs, and our check keeps its update away from yrs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from collab.errors import ProtocolError
from collab.protocol.update import check_update
from collab.room import NeedsResync
from tests.repro import yrs_panic, yrs_pending_crash
from tests.rooms import harness, phase

SCRIPT = Path(yrs_panic.__file__)


def test_the_reproduction_runs_to_its_end() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()


def test_our_check_refuses_the_update_before_yrs_sees_it() -> None:
    with pytest.raises(ProtocolError, match="wider than 32 bits"):
        check_update(bytes.fromhex(yrs_panic.UPDATE))


async def test_a_room_never_lets_peers_build_pending_state() -> None:
    # The updates that crash yrs when it keeps the 2nd and 3rd pending: a room does not
    # apply them; it asks the peer to resync instead, and stays up.
    updates = [bytes.fromhex(update) for update in yrs_pending_crash.UPDATES]
    async with harness() as h:
        room = await h.manager.get(phase())
        peer, socket = h.peer()
        room.join(peer)
        room.apply_from_peer(peer, updates[0])
        for update in updates[1:]:
            with pytest.raises(NeedsResync):
                room.apply_from_peer(peer, update)
        await h.journal.flush()
        assert h.log.updates(str(phase())) == updates[:1]
        assert not room.damaged
        # Its sync start, then one request to resync (one at a time, however many gaps).
        assert sum(1 for frame in socket.frames if frame[:2] == b"\x00\x00") == 2
