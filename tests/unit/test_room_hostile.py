"""Rooms under hostile input: real rooms, journal and manager over an in-memory log."""

from __future__ import annotations

import asyncio

import pytest
from pycrdt import Doc, Map

from collab.errors import AwarenessTooLarge, InvalidUpdate, ProtocolError, RoomReset
from collab.protocol.awareness import AwarenessEntry, encode_awareness
from collab.room import NeedsResync, RoomLimits
from tests.hostile import Case, corpus, crafted, tiptap_edits
from tests.rooms import content_of, harness, phase


def damaging() -> Case:
    """The first corpus update that reaches yrs (well-formed, nothing missing) and fails."""
    return next(case for case in corpus() if "RuntimeError" in case.found)


def reference(updates: list[bytes]) -> Doc[object]:
    doc: Doc[object] = Doc()
    for update in updates:
        doc.apply_update(update)
    return doc


@pytest.mark.parametrize("case", corpus(), ids=lambda case: case.found[:40])
async def test_an_update_yrs_fails_on_never_reaches_the_journal(case: Case) -> None:
    async with harness() as h:
        room = await h.manager.get(phase())
        sender, _ = h.peer()
        other, _other_socket = h.peer()
        room.join(sender)
        room.join(other)
        for update in case.before:
            room.apply_from_peer(sender, update)
        with pytest.raises((InvalidUpdate, NeedsResync)):  # refused, or deferred until resync
            room.apply_from_peer(sender, case.update)
        await h.manager.get(phase())  # wait for the journal
        assert case.update not in h.log.updates(str(phase()))
        if room.damaged:
            # The other peer is told to reconnect; a fresh replica comes from the log.
            await asyncio.wait_for(other.connection.closed.wait(), 5)
            assert other.connection.close_error is not None
            assert other.connection.close_error.close_code == RoomReset.close_code
            assert h.manager.loaded(str(phase())) is not room
            with pytest.raises(RoomReset):
                room.sync_reply(b"\x00")
        fresh = await h.manager.get(phase())
        assert not fresh.damaged
        assert content_of(fresh.doc) == content_of(reference(case.before))


async def test_a_damaged_replica_is_reloaded_with_every_accepted_update() -> None:
    case = damaging()
    async with harness() as h:
        room = await h.manager.get(phase())
        peer, _ = h.peer()
        room.join(peer)
        for update in case.before:
            room.apply_from_peer(peer, update)
        with pytest.raises(InvalidUpdate):
            room.apply_from_peer(peer, case.update)
        assert room.damaged
        assert h.manager.resets == 1
        fresh = await h.manager.get(phase())  # reads after the journal committed
        assert content_of(fresh.doc) == content_of(reference(case.before))


@pytest.mark.parametrize("name", sorted(crafted()))
async def test_crafted_updates_close_the_sender_and_touch_nothing(name: str) -> None:
    async with harness() as h:
        room = await h.manager.get(phase())
        peer, _ = h.peer()
        room.join(peer)
        edits = tiptap_edits()
        for update in edits:
            room.apply_from_peer(peer, update)
        with pytest.raises(InvalidUpdate):
            room.apply_from_peer(peer, crafted()[name])
        assert not room.damaged
        assert content_of(room.doc) == content_of(reference(edits))


async def test_a_malformed_state_vector_is_a_protocol_error() -> None:
    async with harness() as h:
        room = await h.manager.get(phase())
        peer, _ = h.peer()
        room.join(peer)
        for bad in (bytes.fromhex("8080808001"), b"\x01\x05", b"\x00\x00"):
            with pytest.raises(ProtocolError):
                room.answer_sync(peer, bad)
        assert not room.damaged


def sync_step2_frames(frames: list[bytes]) -> int:
    return sum(1 for frame in frames if frame[:2] == b"\x00\x01")


async def test_one_sync_reply_per_peer_is_queued_at_a_time() -> None:
    async with harness() as h:
        room = await h.manager.get(phase())
        editor, _ = h.peer()
        room.join(editor)
        for update in tiptap_edits():
            room.apply_from_peer(editor, update)
        peer, socket = h.peer()
        room.join(peer)
        for _ in range(4096):  # in one loop turn: the writer has sent nothing yet
            room.answer_sync(peer, b"\x00")
        await asyncio.sleep(0.05)
        assert sync_step2_frames(socket.frames) == 1
        room.answer_sync(peer, b"\x00")  # once it went out, the next request is answered
        await asyncio.sleep(0.05)
        assert sync_step2_frames(socket.frames) == 2


async def test_the_outbox_is_bounded_in_bytes() -> None:
    async with harness() as h:
        room = await h.manager.get(phase())
        editor, _ = h.peer()
        slow, _ = h.peer(stalled=True, outbox_bytes=4096)
        room.join(editor)
        room.join(slow)  # its sync start is exempt from the byte bound
        for update in tiptap_edits():
            room.apply_from_peer(editor, update)
            await asyncio.sleep(0)  # one frame per loop turn
        assert slow.connection.close_error is None
        source: Doc[object] = Doc(client_id=77)
        for i in range(100):
            before = source.get_state()
            source.get("ai", type=Map)["k"] = "x" * 100 + str(i)
            room.apply_from_peer(editor, source.get_update(before))
            await asyncio.sleep(0)
        assert slow.connection.close_error is not None
        assert slow.connection.close_error.close_code == 1013


async def test_awareness_is_bounded_per_peer() -> None:
    limits = RoomLimits(awareness_clients_per_peer=4, awareness_bytes_per_peer=2048)
    async with harness(limits) as h:
        room = await h.manager.get(phase())
        peer, _ = h.peer()
        room.join(peer)
        room.awareness_from_peer(peer, encode_awareness([AwarenessEntry(1, 1, "{}")]))
        many = encode_awareness([AwarenessEntry(i, 1, "{}") for i in range(2, 7)])
        with pytest.raises(AwarenessTooLarge):
            room.awareness_from_peer(peer, many)
        with pytest.raises(AwarenessTooLarge):
            big = encode_awareness([AwarenessEntry(1, 2, '"' + "x" * 4000 + '"')])
            room.awareness_from_peer(peer, big)
        assert room.awareness.client_ids() == frozenset({1})
