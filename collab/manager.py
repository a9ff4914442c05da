"""RoomManager: loads each room once (single flight), follows other nodes, unloads idle rooms."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pycrdt
from pycrdt import Doc

from collab.errors import Forbidden
from collab.journal import Journal
from collab.peer import Connection
from collab.persistence import UpdateLog
from collab.pubsub import PubSub
from collab.room import AWARENESS, UPDATE, ReplicaDamaged, Room, RoomLimits, integrate
from collab.types import DocumentName

log = logging.getLogger(__name__)

CONTROL = "__control__"  # messages for every node: {"kind": ..., ...}
MEMBERSHIP = "membership"

Seeder = Callable[[DocumentName, Room], Awaitable[None]]


MAX_BAD_ROWS = 16  # stored updates skipped before a document is refused as unreadable


def replay(name: str, parts: list[bytes]) -> Doc[Any]:
    """A replica from stored updates. A row that fails to integrate (stored before updates
    were checked, or one yrs fails on only in this order) is skipped with an error log, and
    the replica rebuilt without it: one bad row must not lock a document forever."""
    skipped: set[int] = set()
    while len(skipped) <= MAX_BAD_ROWS:
        doc: Doc[Any] = Doc()
        for index, part in enumerate(parts):
            if index in skipped:
                continue
            try:
                integrate(doc, part)
            except ValueError as exc:  # not decodable: nothing was applied, go on
                log.error("skipping stored update %d of %s: %s", index, name, exc)
                skipped.add(index)
            except ReplicaDamaged as exc:  # half applied: start again without it
                log.error("skipping stored update %d of %s: %s", index, name, exc)
                skipped.add(index)
                break
        else:
            return doc
    raise RuntimeError(f"{name}: more than {MAX_BAD_ROWS} stored updates do not integrate")


def merge(updates: list[bytes]) -> bytes:
    merged: bytes = pycrdt.merge_updates(*updates)
    return merged


class RoomManager:
    def __init__(
        self,
        *,
        log_store: UpdateLog,
        journal: Journal,
        pubsub: PubSub,
        limits: RoomLimits,
        group: asyncio.TaskGroup,
        seeder: Seeder | None = None,
    ) -> None:
        self._store = log_store
        self._journal = journal
        self._pubsub = pubsub
        self._limits = limits
        self._group = group
        self._seeder = seeder
        self._rooms: dict[str, Room] = {}
        self._loading: dict[str, asyncio.Future[Room]] = {}
        self._followers: dict[str, asyncio.Task[None]] = {}
        self._early: dict[str, list[bytes]] = {}  # heard while the room was loading
        self.catch_ups = 0
        self.resets = 0  # replicas dropped because an update failed to integrate
        self._control: dict[str, Callable[[dict[str, Any]], None]] = {
            MEMBERSHIP: self._membership_message
        }

    @property
    def pubsub(self) -> PubSub:
        return self._pubsub

    @property
    def room_count(self) -> int:
        return len(self._rooms)

    def loaded(self, name: str) -> Room | None:
        return self._rooms.get(name)

    async def get(self, name: DocumentName) -> Room:
        key = str(name)
        room = self._rooms.get(key)
        if room is not None:
            return room
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._loading[key] = pending
            self._group.create_task(self._load(name, pending), name=f"load {key}")
        return await asyncio.shield(pending)

    async def _load(self, name: DocumentName, result: asyncio.Future[Room]) -> None:
        key = str(name)
        subscribed = asyncio.Event()
        try:
            # Subscribe first, then read the log: nothing published in between is missed.
            follower = self._group.create_task(self._follow(key, subscribed), name=f"follow {key}")
            self._followers[key] = follower
            await self._subscribed(follower, subscribed)
            room = await self._read(name)
            if self._seeder is not None:
                await self._seeder(name, room)
            self._rooms[key] = room
            for payload in self._early.pop(key, []):
                self._deliver(room, payload)
            room.idle_since = time.monotonic()
            result.set_result(room)
            self._group.create_task(self._settle(room), name=f"settle {key}")
        except Exception as exc:
            log.exception("could not load %s", key)
            self._stop_following(key)
            result.set_exception(exc)
        finally:
            del self._loading[key]

    @staticmethod
    async def _subscribed(follower: asyncio.Task[None], subscribed: asyncio.Event) -> None:
        """Wait for the subscription; fail if the follower ends (error, cancel) before it."""
        waiter = asyncio.ensure_future(subscribed.wait())
        try:
            await asyncio.wait({waiter, follower}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if not subscribed.is_set():
            raise RuntimeError("the pub/sub subscription ended before it started")

    async def _read(self, name: DocumentName) -> Room:
        # Everything accepted so far is committed first: a replica reloaded after damage
        # must not miss what its peers sent just before.
        await self._journal.flush()
        stored = await self._store.load(str(name))
        parts = ([stored.snapshot] if stored.snapshot else []) + stored.updates
        doc = replay(str(name), parts)
        room = Room(
            str(name),
            doc,
            journal=self._journal,
            pubsub=self._pubsub,
            read_only=name.is_meta,
            limits=self._limits,
            size=sum(len(part) for part in parts),
            on_damage=self._discard,
        )
        room.log_position = stored.last_id
        return room

    def _discard(self, room: Room) -> None:
        """Forget a damaged replica; the next join loads a fresh one from the log."""
        if self._rooms.get(room.name) is room:
            del self._rooms[room.name]
            self._stop_following(room.name)
        self.resets += 1

    async def catch_up(self, room: Room) -> int:
        """Apply whatever the log has beyond this replica (after a pub/sub gap); idempotent."""
        stored = await self._store.load_after(room.name, room.log_position)
        parts = ([stored.snapshot] if stored.snapshot else []) + stored.updates
        for part in parts:
            room.apply_remote(part)
        room.log_position = max(room.log_position, stored.last_id)
        return len(parts)

    async def catch_up_all(self) -> None:
        for room in list(self._rooms.values()):
            try:
                await self.catch_up(room)
            except Exception:
                log.exception("catch-up of %s failed", room.name)
        self.catch_ups += 1

    async def _settle(self, room: Room) -> None:
        # A publish racing our subscription may have reached neither the channel nor (yet)
        # the log we read: look at the log once more after the other node's commit window.
        await asyncio.sleep(self._limits.settle_s)
        if self._rooms.get(room.name) is room:
            await self.catch_up(room)

    async def _follow(self, key: str, subscribed: asyncio.Event) -> None:
        async with self._pubsub.subscribe(key) as messages:
            subscribed.set()
            async for payload in messages:
                room = self._rooms.get(key)
                if room is None:
                    self._early.setdefault(key, []).append(payload)
                else:
                    self._deliver(room, payload)

    @staticmethod
    def _deliver(room: Room, payload: bytes) -> None:
        kind, body = payload[:1], payload[1:]
        if kind == UPDATE:
            room.apply_remote(body)
        elif kind == AWARENESS:
            room.awareness_remote(body)

    def _stop_following(self, key: str) -> None:
        self._early.pop(key, None)
        task = self._followers.pop(key, None)
        if task is not None:
            task.cancel()

    # -- unloading -----------------------------------------------------------------------

    async def reap(self, interval_s: float = 0.25) -> None:
        """Unload rooms idle longer than the limit; runs for the manager's lifetime."""
        while True:
            await asyncio.sleep(interval_s)
            now = time.monotonic()
            kept_alive: set[Connection] = set()
            for key, room in list(self._rooms.items()):
                room.expire_awareness(now, self._limits.awareness_timeout_s)
                room.keep_alive(now, kept_alive)
                idle = room.idle_since
                if idle is not None and now - idle >= self._limits.idle_unload_s:
                    await self._unload(key)

    async def _unload(self, key: str) -> None:
        room = self._rooms.get(key)
        if room is None:
            return
        await self._journal.flush()
        if room.peers:  # someone joined while we flushed
            return
        del self._rooms[key]
        self._stop_following(key)
        log.debug("unloaded %s", key)
        try:
            if await self._store.log_length(key) >= self._limits.compaction_threshold:
                await self._store.compact(key, merge)
        except Exception:
            log.exception("compaction of %s failed; the log is intact", key)

    # -- control -------------------------------------------------------------------------

    def rooms_of(self, project_id: uuid.UUID) -> list[Room]:
        prefix = f"projects/{project_id}/"
        return [room for key, room in self._rooms.items() if key.startswith(prefix)]

    def membership_changed(
        self, project_id: uuid.UUID, user_id: uuid.UUID | None, role: str | None
    ) -> None:
        """A member's role changed (None: removed; user None: project deleted), on every node."""
        self.revoke(project_id, user_id, role)
        self.send_control(
            MEMBERSHIP, {"project": str(project_id), "user": user_id and str(user_id), "role": role}
        )

    def on_control(self, kind: str, handler: Callable[[dict[str, Any]], None]) -> None:
        """Run `handler` for control messages of `kind` sent by other nodes."""
        self._control[kind] = handler

    def send_control(self, kind: str, message: dict[str, Any]) -> None:
        self._pubsub.publish(CONTROL, json.dumps({"kind": kind, **message}).encode())

    def _membership_message(self, message: dict[str, Any]) -> None:
        user = message["user"]
        self.revoke(
            uuid.UUID(message["project"]),
            None if user is None else uuid.UUID(user),
            message["role"],
        )

    async def follow_control(self) -> None:
        async with self._pubsub.subscribe(CONTROL) as messages:
            async for payload in messages:
                try:
                    message = json.loads(payload)
                    self._control[message["kind"]](message)
                except (ValueError, KeyError, TypeError):
                    log.warning("ignoring a malformed control message")

    def revoke(self, project_id: uuid.UUID, user_id: uuid.UUID | None, role: str | None) -> None:
        """Apply a membership change to local peers: close them, or make them read-only."""
        for room in self.rooms_of(project_id):
            for peer in list(room.peers):
                if user_id is not None and peer.user_id != user_id:
                    continue
                if role is None:
                    peer.connection.close_soon(Forbidden("no longer a member of this project"))
                else:
                    read_only = role == "viewer" or room.read_only
                    if read_only != peer.read_only and peer.rescope is not None:
                        peer.rescope(read_only)
                    peer.read_only = read_only


@contextlib.asynccontextmanager
async def open_room_manager(
    *,
    log_store: UpdateLog,
    journal: Journal,
    pubsub: PubSub,
    limits: RoomLimits,
    seeder: Seeder | None = None,
) -> AsyncIterator[RoomManager]:
    async with asyncio.TaskGroup() as group:
        manager = RoomManager(
            log_store=log_store,
            journal=journal,
            pubsub=pubsub,
            limits=limits,
            group=group,
            seeder=seeder,
        )
        reaper = group.create_task(manager.reap(), name="room-reaper")
        control = group.create_task(manager.follow_control(), name="control")
        try:
            yield manager
        finally:
            reaper.cancel()
            control.cancel()
            for key in list(manager._followers):
                manager._stop_following(key)
