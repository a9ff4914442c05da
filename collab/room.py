"""A room: one document replica, its peers and their awareness.

Data flows one way: a peer's update is validated by applying it to the replica, then queued
for the journal, offered to every other local peer (encoded once per framing), and published
for the other nodes. Updates from other nodes are applied and offered to every local peer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from typing import Any

import pycrdt
from pycrdt import Doc

from collab.errors import DocumentTooLarge, Forbidden, InvalidUpdate, ProtocolError
from collab.journal import Journal
from collab.peer import Peer
from collab.protocol.awareness import AwarenessRegistry, decode_awareness
from collab.protocol.ywire import AwarenessMessage, SyncStep1, SyncStep2, Update
from collab.pubsub import PubSub

log = logging.getLogger(__name__)

UPDATE, AWARENESS = b"u", b"a"  # first byte of what a room publishes
EMPTY_UPDATE = b"\x00\x00"  # no structs, no deletions


class Room:
    def __init__(
        self,
        name: str,
        doc: Doc[Any],
        *,
        journal: Journal,
        pubsub: PubSub,
        read_only: bool = False,
        max_bytes: int,
        size: int = 0,
    ) -> None:
        self.name = name
        self.doc = doc
        self.read_only = read_only  # for clients; the server still writes
        self.peers: set[Peer] = set()
        self.awareness = AwarenessRegistry()
        self._journal = journal
        self._pubsub = pubsub
        self._max_bytes = max_bytes
        self._size = size
        self.idle_since: float | None = None
        self.log_position = 0  # the last log row this replica is known to contain
        self._pending: list[tuple[bytes, Peer | None, bool]] = []  # updates of this loop turn
        # Called after a local change (a peer's or the server's), never for remote ones:
        # the node where a change happens is the one that reacts to it.
        self.on_change: Callable[[Room, Peer | str], None] | None = None

    # -- joining and leaving -------------------------------------------------------------

    def join(self, peer: Peer, client_state_vector: bytes | None = None) -> None:
        """Add a peer and queue its sync start. Synchronous: no change can slip in between."""
        self.peers.add(peer)
        self.idle_since = None
        if client_state_vector is not None:
            peer.offer(peer.encode(SyncStep2(self.doc.get_update(client_state_vector))))
        peer.offer(peer.encode(SyncStep1(self.doc.get_state())))
        snapshot = self.awareness.snapshot()
        if snapshot is not None:
            peer.offer(peer.encode(AwarenessMessage(snapshot)))

    def leave(self, peer: Peer, now: float) -> None:
        if peer not in self.peers:
            return
        self.peers.discard(peer)
        if peer.client_ids:
            removal = self.awareness.remove(peer.client_ids)
            if removal is not None:
                self._fan_out(AwarenessMessage(removal), None)
                self._pubsub.publish(self.name, AWARENESS + removal)
        if not self.peers:
            self.idle_since = now

    # -- sync ----------------------------------------------------------------------------

    def sync_reply(self, state_vector: bytes) -> SyncStep2:
        try:
            return SyncStep2(self.doc.get_update(state_vector))
        except ValueError as exc:
            raise ProtocolError("invalid state vector") from exc

    def apply_from_peer(self, peer: Peer, update: bytes) -> asyncio.Future[None] | None:
        """Validate and apply a peer's update; return the future of its commit (None if empty).

        Every update that applies is stored and relayed, even one that leaves the state
        vector as it was: a deletion does, and so does an update whose dependencies have not
        arrived yet (Yjs keeps it pending until they do).
        """
        if peer.read_only or self.read_only:
            raise Forbidden("read-only")
        if self._size + len(update) > self._max_bytes:
            raise DocumentTooLarge(f"document would exceed {self._max_bytes} bytes")
        if update == EMPTY_UPDATE:
            return None
        self._apply(update)
        if self.on_change is not None:
            self.on_change(self, peer)
        self._queue(update, peer, publish=True)
        return self._journal.submit(self.name, update)

    def apply_remote(self, update: bytes) -> None:
        """An update another node accepted (and journaled); idempotent, so always relayed."""
        try:
            self._apply(update)
        except InvalidUpdate:
            log.warning("ignoring an invalid update from pub/sub for %s", self.name)
            return
        self._queue(update, None, publish=False)

    def server_change(
        self, change: Callable[[Doc[Any]], None], origin: str
    ) -> asyncio.Future[None] | None:
        """Make a change as the server: a CRDT operation on the live replica, like any edit."""
        updates: list[bytes] = []
        subscription = self.doc.observe(lambda event: updates.append(event.update))
        try:
            with self.doc.transaction(origin=origin):
                change(self.doc)
        finally:
            self.doc.unobserve(subscription)
        if not updates:  # the change changed nothing
            return None
        update = updates[0] if len(updates) == 1 else pycrdt.merge_updates(*updates)
        self._size += len(update)
        self._queue(update, None, publish=True)
        if self.on_change is not None:
            self.on_change(self, origin)
        return self._journal.submit(self.name, update)

    def _apply(self, update: bytes) -> None:
        try:
            self.doc.apply_update(update)
        except ValueError as exc:  # pycrdt cannot decode it
            raise InvalidUpdate(str(exc)) from None
        self._size += len(update)

    # -- awareness -----------------------------------------------------------------------

    def awareness_from_peer(self, peer: Peer, payload: bytes) -> None:
        entries = decode_awareness(payload)
        fresh = self.awareness.apply(entries, time.monotonic())
        for entry in fresh:
            if entry.state == "null":
                peer.client_ids.discard(entry.client_id)
            else:
                peer.client_ids.add(entry.client_id)
        if fresh:
            self._fan_out(AwarenessMessage(payload), peer)
            self._pubsub.publish(self.name, AWARENESS + payload)

    def awareness_remote(self, payload: bytes) -> None:
        try:
            fresh = self.awareness.apply(decode_awareness(payload), time.monotonic())
        except ProtocolError:
            return
        if fresh:
            self._fan_out(AwarenessMessage(payload), None)

    def expire_awareness(self, now: float, timeout_s: float) -> None:
        """Drop remote clients that stopped renewing (Yjs clients renew every 15 s)."""
        local = {cid for peer in self.peers for cid in peer.client_ids}
        gone = [cid for cid in self.awareness.outdated(now - timeout_s) if cid not in local]
        removal = self.awareness.remove(gone) if gone else None
        if removal is not None:
            self._fan_out(AwarenessMessage(removal), None)

    def awareness_snapshot(self) -> bytes | None:
        return self.awareness.snapshot()

    # -- fan-out -------------------------------------------------------------------------

    def _queue(self, update: bytes, origin: Peer | None, *, publish: bool) -> None:
        """Send at the end of this loop turn: updates that arrive together go out as one."""
        self._pending.append((update, origin, publish))
        if len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        origins = {origin for _, origin, _ in batch}
        # One sender: everyone else gets its updates. Several: everyone gets the merge,
        # its own part included (applying a known update is a no-op in Yjs).
        origin = next(iter(origins)) if len(origins) == 1 else None
        updates = [update for update, _, _ in batch]
        merged = updates[0] if len(updates) == 1 else pycrdt.merge_updates(*updates)
        self._fan_out(Update(merged), origin)
        published = [update for update, _, publish in batch if publish]
        if published:
            one = published[0] if len(published) == 1 else pycrdt.merge_updates(*published)
            self._pubsub.publish(self.name, UPDATE + one)

    def _fan_out(self, message: Any, origin: Peer | None) -> None:
        frames: dict[Hashable, bytes] = {}
        for peer in self.peers:
            if peer is origin:
                continue
            frame = frames.get(peer.framing)
            if frame is None:
                frame = frames[peer.framing] = peer.encode(message)
            peer.offer(frame)
