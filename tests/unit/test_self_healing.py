"""Two nodes in one process, a lossy pub/sub between them: each way of losing an update heals.

Every test drops what a node publishes at a chosen point and checks that the other node's
replica still ends up with everything, and by which mechanism."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from pycrdt import Doc, Map

from collab.journal import Journal, open_journal
from collab.manager import RoomManager, open_room_manager
from collab.peer import Connection, Peer
from collab.protocol import relay, ywire
from collab.pubsub.inbox import LOST, Inbox
from collab.pubsub.local import LocalBroker, LocalPubSub
from collab.room import Room, RoomLimits
from tests.rooms import MemoryLog, MemorySocket, phase

NEVER = 3600.0


@dataclass
class LossyPubSub:
    """LocalPubSub that drops the updates a test picks (by their index, from 1)."""

    inner: LocalPubSub
    drop: Callable[[int], bool] = lambda index: False
    updates: int = 0
    dropped: list[int] = field(default_factory=list)

    @property
    def node_id(self) -> str:
        return self.inner.node_id

    def publish(self, topic: str, payload: bytes) -> None:
        if payload[:1] == relay.SEQUENCED:
            self.updates += 1
            if self.drop(self.updates):
                self.dropped.append(self.updates)
                return
        self.inner.publish(topic, payload)

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        return self.inner.subscribe(topic)


@dataclass
class Node:
    manager: RoomManager
    pubsub: LossyPubSub
    journal: Journal


@contextlib.asynccontextmanager
async def two_nodes(**limits: float) -> AsyncIterator[tuple[Node, Node, MemoryLog]]:
    log, broker = MemoryLog(), LocalBroker()
    options = {"settle_s": 0.05, "idle_unload_s": NEVER, "anti_entropy_s": NEVER, **limits}
    async with contextlib.AsyncExitStack() as stack:
        nodes = []
        for _ in range(2):
            pubsub = LossyPubSub(LocalPubSub(broker))
            journal = await stack.enter_async_context(open_journal(Journal(log, retry_s=0.01)))
            manager = await stack.enter_async_context(
                open_room_manager(
                    log_store=log, journal=journal, pubsub=pubsub, limits=RoomLimits(**options)
                )
            )
            nodes.append(Node(manager, pubsub, journal))
        yield nodes[0], nodes[1], log


@contextlib.asynccontextmanager
async def peer_of(room: Room) -> AsyncIterator[Peer]:
    connection = Connection(
        MemorySocket(), outbox=1024, outbox_bytes=1 << 20, send_timeout_s=5, rate_per_s=1000
    )
    writer = asyncio.create_task(connection.write_loop())
    peer = Peer(connection, "y", ywire.encode, None, False)
    room.join(peer)
    try:
        yield peer
    finally:
        room.leave(peer, 0)
        writer.cancel()


def edit(key: str, base: Doc[object] | None = None) -> tuple[Doc[object], bytes]:
    """An update setting `key`, by a new client (independent of every other) or on `base`
    (then it builds on what `base` wrote before)."""
    doc: Doc[object] = base if base is not None else Doc()
    before = doc.get_state()
    doc.get("m", type=Map)[key] = key
    return doc, doc.get_update(before)


def keys(room: Room) -> set[str]:
    return set(room.doc.get("m", type=Map).keys())


async def until(predicate: Callable[[], bool], timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def loaded_pair(a: Node, b: Node) -> tuple[Room, Room]:
    room_a, room_b = await a.manager.get(phase()), await b.manager.get(phase())
    await asyncio.sleep(0.2)  # past the catch-up that follows loading
    return room_a, room_b


async def send_dependent_pair(room: Room) -> None:
    """A peer of `room` sends "first", then "second" that builds on it, published apart."""
    doc, first = edit("first")
    _, second = edit("second", doc)
    async with peer_of(room) as peer:
        room.apply_from_peer(peer, first)
        await asyncio.sleep(0.05)  # published apart, not merged into one message
        room.apply_from_peer(peer, second)


async def test_a_hole_in_a_senders_seq_is_caught_up_from_the_log() -> None:
    async with two_nodes() as (a, b, _):
        room_a, room_b = await loaded_pair(a, b)
        a.pubsub.drop = lambda index: index == 2
        async with peer_of(room_a) as peer:
            for key in ("one", "two", "three"):  # three clients: nothing depends on "two"
                room_a.apply_from_peer(peer, edit(key)[1])
                await asyncio.sleep(0.05)
        await until(lambda: keys(room_b) == {"one", "two", "three"})
        assert a.pubsub.dropped == [2]
        assert not room_b.parked


async def test_an_update_missing_its_dependency_is_parked_then_applied() -> None:
    async with two_nodes() as (a, b, _):
        room_a, room_b = await loaded_pair(a, b)
        # The first update of a sender is lost and the room is told nothing else: only the
        # second, which builds on it, shows the loss.
        a.pubsub.drop = lambda index: index == 1
        room_b.on_behind = None
        b.manager._missed = lambda room: None  # type: ignore[method-assign]
        await send_dependent_pair(room_a)
        await until(lambda: len(room_b.parked) == 1)
        assert keys(room_b) == set()  # yrs never held it pending
        b.manager.behind(room_b)  # what parking asks for: a catch-up heals it
        await until(lambda: keys(room_b) == {"first", "second"} and not room_b.parked)


async def test_parked_updates_heal_without_help() -> None:
    async with two_nodes() as (a, b, _):
        room_a, room_b = await loaded_pair(a, b)
        a.pubsub.drop = lambda index: index == 1
        await send_dependent_pair(room_a)
        await until(lambda: keys(room_b) == {"first", "second"} and not room_b.parked)


async def test_a_lost_notice_makes_the_room_catch_up() -> None:
    async with two_nodes() as (a, b, _):
        room_a, room_b = await loaded_pair(a, b)
        a.pubsub.drop = lambda index: True
        async with peer_of(room_a) as peer:
            room_a.apply_from_peer(peer, edit("quiet")[1])
        await a.journal.flush()
        before = b.manager.catch_ups
        a.pubsub.inner.publish(room_a.name, LOST)  # what a transport sends after a loss
        await until(lambda: keys(room_b) == {"quiet"})
        assert b.manager.catch_ups > before


async def test_anti_entropy_finds_a_last_update_nothing_else_shows() -> None:
    async with two_nodes(anti_entropy_s=0.05) as (a, b, _):
        room_a, room_b = await loaded_pair(a, b)
        a.pubsub.drop = lambda index: True
        async with peer_of(room_a) as peer:
            room_a.apply_from_peer(peer, edit("last")[1])
        await until(lambda: keys(room_b) == {"last"})
        assert b.manager.head_checks > 0
        # Then it rests: a quiet room whose log has not moved is not read again.
        caught_up = b.manager.catch_ups
        await asyncio.sleep(0.3)
        assert b.manager.catch_ups == caught_up


async def test_a_catch_up_does_not_move_past_a_row_that_waits() -> None:
    async with two_nodes() as (a, b, log):
        _, room_b = await loaded_pair(a, b)
        position = room_b.log_position
        doc, first = edit("first")
        _, second = edit("second", doc)
        # Only the second reaches the log, as when the first's batch commits later.
        await log.append([(room_b.name, second)])
        await b.manager.catch_up(room_b)
        assert room_b.parked and room_b.log_position == position
        await log.append([(room_b.name, first)])
        await b.manager.catch_up(room_b)
        assert keys(room_b) == {"first", "second"} and not room_b.parked
        assert room_b.log_position > position


async def test_one_catch_up_applies_rows_logged_out_of_dependency_order() -> None:
    async with two_nodes() as (a, b, log):
        _, room_b = await loaded_pair(a, b)
        doc, first = edit("first")
        _, second = edit("second", doc)
        await log.append([(room_b.name, second), (room_b.name, first)])
        await b.manager.catch_up(room_b)
        assert keys(room_b) == {"first", "second"} and not room_b.parked
        assert room_b.log_position == (await log.load(room_b.name)).last_id


async def test_an_inbox_over_its_bound_tells_its_reader() -> None:
    inbox = Inbox(max_bytes=10)
    assert inbox.put(b"12345") and inbox.put(b"67890")
    assert not inbox.put(b"x")  # over the bound: dropped
    messages = inbox.messages()
    assert [await anext(messages) for _ in range(3)] == [LOST, b"12345", b"67890"]
    inbox.lose()
    assert await anext(messages) == LOST


def test_arrivals_tell_holes_from_repeats() -> None:
    arrivals = relay.Arrivals()
    assert not arrivals.missed("a/1", 1)
    assert not arrivals.missed("a/1", 2)
    assert not arrivals.missed("a/1", 2)  # a retried publish
    assert arrivals.missed("a/1", 4)
    assert not arrivals.missed("a/1", 3)  # late, after the hole was acted on
    assert arrivals.missed("b/1", 7)  # first heard past 1: what came before is unknown
    message = relay.decode(relay.encode_update("a/1", 5, b"\x00\x00"))
    assert message == relay.Relayed(b"\x00\x00", "a/1", 5)
