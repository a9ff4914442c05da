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

from collab.errors import Forbidden, ProtocolError, Unauthorized
from collab.journal import Journal
from collab.peer import Connection
from collab.persistence import UpdateLog
from collab.protocol import relay
from collab.pubsub import PubSub
from collab.room import ReplicaDamaged, Room, RoomLimits, integrate
from collab.types import DocumentName

log = logging.getLogger(__name__)

CONTROL = "__control__"  # messages for every node: {"kind": ..., ...}
MEMBERSHIP = "membership"
ACCOUNT = "account"

Seeder = Callable[[DocumentName, Room], Awaitable[None]]


CLOSED_USER_MEMORY_S = 30.0  # longer than any access check takes
PARKED_GIVE_UP_S = 60.0  # how long remote updates may wait for a missing dependency
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
        self._wanted: set[Room] = set()  # rooms to catch up from the log
        self._repairs: dict[str, asyncio.Task[None]] = {}
        self.catch_ups = 0
        self.head_checks = 0
        self.closing = False
        self._closed_users: dict[uuid.UUID, float] = {}  # disabled or deleted: when
        # Called when control messages from other nodes were lost (a membership change or a
        # disabled account among them, maybe): whoever knows who may access what re-checks
        # the local peers.
        self.on_control_lost: Callable[[], None] | None = None
        self.resets = 0  # replicas dropped because an update failed to integrate
        self._control: dict[str, Callable[[dict[str, Any]], None]] = {
            MEMBERSHIP: self._membership_message,
            ACCOUNT: lambda message: self.close_user(uuid.UUID(message["user"])),
        }

    @property
    def pubsub(self) -> PubSub:
        return self._pubsub

    @property
    def journal(self) -> Journal:
        return self._journal

    @property
    def room_count(self) -> int:
        return len(self._rooms)

    def loaded(self, name: str) -> Room | None:
        return self._rooms.get(name)

    def rooms(self) -> list[Room]:
        return list(self._rooms.values())

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
            # A publish racing our subscription may have reached neither the channel nor
            # (yet) the log we read: look once more after the other node's commit window.
            self.behind(room, delay=self._limits.settle_s)
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
        room.log_position = room.log_head_seen = stored.last_id
        room.on_behind = self.behind
        return room

    def _discard(self, room: Room) -> None:
        """Forget a damaged replica; the next join loads a fresh one from the log."""
        if self._rooms.get(room.name) is room:
            del self._rooms[room.name]
            self._stop_following(room.name)
        self.resets += 1

    # -- following other nodes -----------------------------------------------------------
    #
    # Pub/sub is fast but may lose messages (Redis down, a connection dropped mid-publish,
    # a full queue). The log is complete. A room catches up from the log whenever a loss
    # shows: a hole in a sender's seq, an update parked for a dependency that never came,
    # the transport's Lost notice, and, as a backstop for losses nothing shows (the last
    # update before a quiet spell), when the log's head moved past what the room has read.

    def behind(self, room: Room, delay: float = 0.0) -> None:
        """Catch `room` up from the log, now or after `delay`; requests coalesce."""
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self.behind, room)
            return
        if self.closing or self._rooms.get(room.name) is not room:
            return  # unloaded or replaced meanwhile; a new replica reads the log anyway
        self._wanted.add(room)
        if room.name not in self._repairs:
            task = self._group.create_task(self._repair(room), name=f"repair {room.name}")
            self._repairs[room.name] = task

    async def _repair(self, room: Room) -> None:
        """Serve catch-up requests for one room: the first at once, later ones spaced by a
        growing pause while they keep coming (or keep failing: the database may be away)."""
        pause, parked_since, failed = 0.05, None, False
        try:
            while room in self._wanted and self._rooms.get(room.name) is room:
                self._wanted.discard(room)
                try:
                    await self.catch_up(room)
                except Exception as exc:
                    if not failed:  # once per spell: many rooms may be waiting at once
                        log.warning("catch-up of %s failed (%s); retrying", room.name, exc)
                    failed = True
                    self._wanted.add(room)
                if room.parked:  # its dependency is not in the log yet: look again
                    now = time.monotonic()
                    parked_since = parked_since or now
                    if now - parked_since > PARKED_GIVE_UP_S:
                        # What they wait for was never committed (its node died first); the
                        # clients that had it send it again when they reconnect.
                        log.error("%s: dropping %d updates", room.name, len(room.parked))
                        room.parked.clear()
                    self._wanted.add(room)
                if room in self._wanted:
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 2.0)
        finally:
            self._wanted.discard(room)
            if self._repairs.get(room.name) is asyncio.current_task():
                del self._repairs[room.name]

    async def catch_up(self, room: Room) -> int:
        """Apply whatever the log has beyond this replica; idempotent."""
        stored = await self._store.load_after(room.name, room.log_position)
        parts = ([stored.snapshot] if stored.snapshot else []) + stored.updates
        room.apply_remote(*parts)
        if not room.parked:  # else a row read now may be the one still waiting: re-read it
            room.log_position = max(room.log_position, stored.last_id)
        room.caught_up_at = time.monotonic()
        self.catch_ups += 1
        return len(parts)

    async def anti_entropy(self) -> None:
        """Every `anti_entropy_s`, compare each loaded room with the log's head."""
        while True:
            await asyncio.sleep(self._limits.anti_entropy_s)
            try:
                await self.check_heads()
            except Exception as exc:
                log.warning("anti-entropy check failed: %s", exc)

    async def check_heads(self) -> None:
        """One query for all loaded rooms. A room whose log moved past what it has read
        catches up once the log stops moving (a quiet room: one catch-up), or at most
        every `anti_entropy_busy_s` while it keeps moving (its own and its peers' edits move
        it, and those are mostly already here)."""
        rooms = [room for room in self._rooms.values() if not room.damaged]
        if not rooms:
            return
        heads = await self._store.heads([room.name for room in rooms])
        self.head_checks += 1
        now = time.monotonic()
        for room in rooms:
            head = heads.get(room.name, 0)
            quiet = head == room.log_head_seen
            room.log_head_seen = head
            busy_for = now - room.caught_up_at
            if head > room.log_position and (quiet or busy_for >= self._limits.anti_entropy_busy_s):
                self.behind(room)

    async def _follow(self, key: str, subscribed: asyncio.Event) -> None:
        async with self._pubsub.subscribe(key) as messages:
            subscribed.set()
            async for payload in messages:
                room = self._rooms.get(key)
                if room is None:
                    self._early.setdefault(key, []).append(payload)
                else:
                    self._deliver(room, payload)

    def _deliver(self, room: Room, payload: bytes) -> None:
        try:
            message = relay.decode(payload)
        except ProtocolError:
            log.warning("ignoring a malformed relay message for %s", room.name)
            return
        if isinstance(message, relay.Relayed):
            if message.sender and room.arrivals.missed(message.sender, message.seq):
                self._missed(room)
            room.apply_remote(message.update)
        elif isinstance(message, relay.RelayedAwareness):
            room.awareness_remote(message.payload)
        else:
            self._missed(room)

    def _missed(self, room: Room) -> None:
        """Something published never came: catch up now, and once more when what was still
        being committed on the sender's node has surely reached the log."""
        self.behind(room)
        self.behind(room, delay=self._limits.settle_s)

    def _stop_following(self, key: str) -> None:
        self._early.pop(key, None)
        task = self._followers.pop(key, None)
        if task is not None:
            task.cancel()
        repair = self._repairs.pop(key, None)
        if repair is not None:
            repair.cancel()

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

    def account_closed(self, user_id: uuid.UUID) -> None:
        """An account was disabled or deleted: close its sockets here and on every node."""
        self.close_user(user_id)
        self.send_control(ACCOUNT, {"user": str(user_id)})

    def close_user(self, user_id: uuid.UUID) -> None:
        """Close the account's sockets. Read-only at once: what they send while the close
        goes out is not applied. Remembered for a while, so that a socket whose access check
        passed just before (and joins just after) is closed on joining."""
        now = time.monotonic()
        self._closed_users[user_id] = now
        for key, at in list(self._closed_users.items()):
            if now - at > CLOSED_USER_MEMORY_S:
                del self._closed_users[key]
        for room in list(self._rooms.values()):
            for peer in list(room.peers):
                if peer.user_id == user_id:
                    peer.read_only = True
                    peer.connection.close_soon(Unauthorized("this account is disabled or deleted"))

    def closed_since(self, user_id: uuid.UUID | None, since: float) -> bool:
        """Whether this account's sockets were closed at or after `since` (monotonic): an
        access check that started before then may have passed on what was true before."""
        at = self._closed_users.get(user_id) if user_id is not None else None
        return at is not None and at >= since

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
                if not payload:  # lost control messages: nothing to replay them from
                    log.warning("control messages from other nodes may be lost; re-checking")
                    if self.on_control_lost is not None:
                        self.on_control_lost()
                    continue
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
                    peer.read_only = True  # nothing more it sends is applied
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
        checker = group.create_task(manager.anti_entropy(), name="anti-entropy")
        try:
            yield manager
        finally:
            manager.closing = True
            reaper.cancel()
            control.cancel()
            checker.cancel()
            for key in list(manager._followers):
                manager._stop_following(key)
