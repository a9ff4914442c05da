"""A room: one document replica, its peers and their awareness.

Data flows one way: a peer's update is validated by applying it to the replica, then queued
for the journal, offered to every other local peer (encoded once per framing), and published
for the other nodes. Updates from other nodes are applied and offered to every local peer.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import pycrdt
from pycrdt import Doc, Snapshot

from collab.errors import (
    AwarenessTooLarge,
    DocumentTooLarge,
    Forbidden,
    InvalidUpdate,
    ProtocolError,
    RoomReset,
    StorageUnavailable,
)
from collab.journal import Journal
from collab.peer import Connection, Peer
from collab.protocol import relay
from collab.protocol.awareness import AwarenessRegistry, decode_awareness
from collab.protocol.update import (
    Needs,
    check_state_vector,
    check_update,
    contains,
    read_delete_set,
    read_state_vector,
)
from collab.protocol.ywire import AwarenessMessage, SyncStep1, SyncStep2, Update
from collab.pubsub import PubSub

log = logging.getLogger(__name__)

EMPTY_UPDATE = b"\x00\x00"  # no structs, no deletions
NO_AWARENESS = b"\x00"  # an awareness update of no clients: a message that changes nothing
_FATAL = (KeyboardInterrupt, SystemExit)
RESYNC_INTERVAL_S = 1.0
_INCARNATIONS = itertools.count(1)  # tells apart the replicas one node loads of one document


@dataclass(frozen=True, slots=True)
class RoomLimits:
    max_document_bytes: int = 64 * 1024 * 1024
    idle_unload_s: float = 30.0
    compaction_threshold: int = 500
    settle_s: float = 1.0
    awareness_timeout_s: float = 30.0
    awareness_clients_per_peer: int = 8  # a Yjs client announces one; tabs may share a socket
    awareness_bytes_per_peer: int = 64 * 1024  # one awareness message of one peer
    keepalive_s: float = 15.0  # the longest a peer goes without an application message
    parked_updates: int = 1024  # remote updates held for missing dependencies, per room
    anti_entropy_s: float = 2.0  # how often loaded rooms are compared with the log's head
    anti_entropy_busy_s: float = 30.0  # the longest a room whose log keeps moving goes unchecked


def integrate(doc: Doc[Any], update: bytes) -> None:
    """Apply an update to `doc`. ValueError: yrs could not decode it, nothing changed.
    Anything else (a RuntimeError, a Rust panic, which is a BaseException) means yrs stopped
    half way: `doc` may be damaged and must not be read again."""
    try:
        doc.apply_update(update)
    except (ValueError, *_FATAL):
        raise
    except BaseException as exc:
        raise ReplicaDamaged(f"{type(exc).__name__}: {exc}") from None


class ReplicaDamaged(Exception):
    """yrs failed while integrating an update: the replica may be half-changed."""


class NeedsResync(Exception):
    """A peer's update builds on something this replica lacks: it was not applied, and the
    peer was sent a SyncStep1 so that it sends everything missing at once.

    yrs would keep such an update pending, and pending structs combined with pending
    deletions crash it (tests/repro/yrs_pending_crash.py). No peer needs them: a peer's
    edits build on what this replica sent it."""


class Room:
    def __init__(
        self,
        name: str,
        doc: Doc[Any],
        *,
        journal: Journal,
        pubsub: PubSub,
        read_only: bool = False,
        limits: RoomLimits,
        size: int = 0,
        on_damage: Callable[[Room], None] | None = None,
    ) -> None:
        self.name = name
        self.doc = doc
        self.read_only = read_only  # for clients; the server still writes
        self.peers: set[Peer] = set()
        self.awareness = AwarenessRegistry()
        self._journal = journal
        self._pubsub = pubsub
        self._limits = limits
        self._size = size
        self._on_damage = on_damage
        self.damaged = False  # the replica failed an update: it is being dropped
        # What each transaction really changed (yrs calls back only when it changed
        # something): how a reconnect's sync, which repeats what the replica has, is told
        # apart from an edit.
        self._changes: list[bytes] = []
        doc.observe(lambda event: self._changes.append(event.update))
        self.idle_since: float | None = None
        # Following other nodes (the manager's bookkeeping): the last log row this replica
        # is known to contain, what each remote sender's seq was, updates waiting for a
        # dependency that has not arrived, and whom to tell when the replica falls behind.
        self.log_position = 0
        self.log_head_seen = 0  # the log's head at the last anti-entropy look
        self.caught_up_at = time.monotonic()
        self.arrivals = relay.Arrivals()
        self.parked: list[tuple[bytes, Needs]] = []
        self.on_behind: Callable[[Room], None] | None = None
        self._sender = f"{pubsub.node_id}/{next(_INCARNATIONS)}"
        self._seq = 0
        self._pending: list[tuple[bytes, Peer | None, bool]] = []  # updates of this loop turn
        # Called after a local change (a peer's or the server's), never for remote ones:
        # the node where a change happens is the one that reacts to it.
        self.on_change: Callable[[Room, Peer | str], None] | None = None

    # -- joining and leaving -------------------------------------------------------------

    def join(self, peer: Peer, client_state_vector: bytes | None = None) -> None:
        """Add a peer and queue its sync start. Synchronous: no change can slip in between."""
        self._check_intact()
        self.peers.add(peer)
        self.idle_since = None
        if client_state_vector is not None:
            peer.reply(peer.encode(self.sync_reply(client_state_vector)))
        # The server's own sync request: exempt from the byte bound like a reply, but not
        # one, so the client's first SyncStep1 is still answered.
        peer.connection.offer(peer.encode(SyncStep1(self.doc.get_state())), reply=True)
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
                self._pubsub.publish(self.name, relay.encode_awareness(removal))
        if not self.peers:
            self.idle_since = now

    # -- sync ----------------------------------------------------------------------------

    def answer_sync(self, peer: Peer, state_vector: bytes) -> None:
        """Answer a peer's SyncStep1; one at a time per peer (a flood adds nothing)."""
        if peer.awaiting_reply:
            return
        peer.reply(peer.encode(self.sync_reply(state_vector)))

    def sync_reply(self, state_vector: bytes) -> SyncStep2:
        self._check_intact()
        try:
            check_state_vector(state_vector)
            return SyncStep2(self.doc.get_update(state_vector))
        except (ProtocolError, ValueError) as exc:
            raise ProtocolError("invalid state vector") from exc
        except _FATAL:
            raise
        except BaseException as exc:
            self._damage(f"encoding a sync reply: {type(exc).__name__}: {exc}", None)
            raise RoomReset() from None

    def apply_from_peer(self, peer: Peer, update: bytes) -> asyncio.Future[None] | None:
        """Validate and apply a peer's update; return the future of its commit, or None when
        it changed nothing (a reconnect's sync repeats the client's whole delete set): that
        is no content change, and nothing to store or relay.

        A change is judged by what yrs integrated, not by the state vector: a deletion leaves
        that as it was. An update that does not integrate cleanly is never stored nor
        relayed; if yrs failed half way, the replica is dropped.
        """
        self._check_intact()
        if peer.read_only or self.read_only:
            raise Forbidden("read-only")
        if self._size + len(update) > self._limits.max_document_bytes:
            raise DocumentTooLarge(f"document would exceed {self._limits.max_document_bytes} bytes")
        if update == EMPTY_UPDATE:
            return None
        if not self._journal.accepts(len(update)):
            raise StorageUnavailable()
        try:
            needs = check_update(update)
        except ProtocolError as exc:
            raise InvalidUpdate(f"malformed update: {exc.detail}") from None
        if needs.missing(read_state_vector(self.doc.get_state())):
            self._request_resync(peer)
            raise NeedsResync()
        if not self._apply(update, peer):
            return None
        if self.on_change is not None:
            self.on_change(self, peer)
        self._queue(update, peer, publish=True)
        committed = self._journal.submit(self.name, update)
        if self.parked:  # a peer may bring what a remote update waited for
            self._unpark()
        return committed

    def holds(self, update: bytes) -> bool:
        """Whether the replica already has everything `update` carries (what a read-only
        peer is told as "saved"): its structs within the state vector, its deletions done."""
        try:
            needs = check_update(update)
        except ProtocolError:
            return False
        state = read_state_vector(self.doc.get_state())
        if any(end > state.get(client, 0) for client, (_, end) in needs.has.items()):
            return False
        if not needs.deletes:
            return True
        return contains(read_delete_set(Snapshot.from_doc(self.doc).encode()), needs.deletes)

    def apply_remote(self, *updates: bytes) -> None:
        """Updates another node accepted (or rows of the log), in order. One that builds on
        something this replica lacks is parked, not given to yrs (pending structs can crash
        it, and nobody would notice the hole), and `on_behind` is told: the missing part was
        lost on the way and is in the log, or soon will be. What applies is relayed to the
        peers; once all are in, parked updates they may have freed are tried again."""
        if self.damaged:
            return
        integrated = False
        for update in updates:
            try:
                needs = check_update(update)
            except ProtocolError:
                log.warning("ignoring a malformed update from pub/sub for %s", self.name)
                continue
            if needs.missing(read_state_vector(self.doc.get_state())):
                self._park(update, needs)
            else:
                integrated = self._integrate_remote(update) or integrated
        if integrated and self.parked:
            self._unpark()

    def _integrate_remote(self, update: bytes) -> bool:
        try:
            changed = self._apply(update, None)
        except InvalidUpdate:
            log.warning("ignoring an update from pub/sub that does not integrate: %s", self.name)
            return False
        if changed:
            self._queue(update, None, publish=False)
        return changed

    def _park(self, update: bytes, needs: Needs) -> None:
        self.parked.append((update, needs))
        if len(self.parked) > self._limits.parked_updates:
            # Dropped here, but in the log: the catch-up this triggers reads it again.
            del self.parked[0]
        if self.on_behind is not None:
            self.on_behind(self)

    def _unpark(self) -> None:
        """Apply the parked updates whose dependencies are now here, until none is (each
        was walked once, when parked: a round costs a state vector per integration)."""
        progress = True
        while progress and self.parked and not self.damaged:
            progress = False
            waiting, self.parked = self.parked, []
            state = read_state_vector(self.doc.get_state())
            for update, needs in waiting:
                if needs.missing(state):
                    self.parked.append((update, needs))
                else:
                    self._integrate_remote(update)
                    state = read_state_vector(self.doc.get_state())
                    progress = True

    def server_change(
        self, change: Callable[[Doc[Any]], None], origin: str
    ) -> asyncio.Future[None] | None:
        """Make a change as the server: a CRDT operation on the live replica, like any edit."""
        self._check_intact()
        if not self._journal.accepts(0):
            raise StorageUnavailable()
        self._changes.clear()
        failure: Exception | None = None
        try:
            with self.doc.transaction(origin=origin):
                change(self.doc)
        except _FATAL:
            raise
        except Exception as exc:
            failure = exc  # what it changed before failing is still a change: keep it
        except BaseException as exc:
            self._damage(f"a server change: {type(exc).__name__}: {exc}", None)
            raise RoomReset() from None
        committed = self._record(list(self._changes), origin)
        if failure is not None:
            raise failure
        return committed

    def _record(self, updates: list[bytes], origin: str) -> asyncio.Future[None] | None:
        if not updates:  # the change changed nothing
            return None
        update = updates[0] if len(updates) == 1 else pycrdt.merge_updates(*updates)
        self._size += len(update)
        self._queue(update, None, publish=True)
        if self.on_change is not None:
            self.on_change(self, origin)
        return self._journal.submit(self.name, update)

    def _request_resync(self, peer: Peer) -> None:
        """Ask the peer for what this replica lacks: one request in flight, and at most one
        per RESYNC_INTERVAL_S, so a peer whose answer still lacks something (a client holding
        pending structs of its own) is not drawn into a request/answer storm."""
        if peer.awaiting_resync or peer.resync_waiting:
            return
        wait = peer.resync_at + RESYNC_INTERVAL_S - time.monotonic()
        if wait > 0:
            peer.resync_waiting = True
            asyncio.get_running_loop().call_later(wait, self._resync, peer)
        else:
            self._resync(peer)

    def _resync(self, peer: Peer) -> None:
        peer.resync_waiting = False
        if peer in self.peers and not self.damaged:
            peer.resync_at = time.monotonic()
            peer.resync_due = peer.connection.offer(
                peer.encode(SyncStep1(self.doc.get_state())), reply=True
            )

    def _apply(self, update: bytes, sender: Peer | None) -> bool:
        """Integrate an update; return whether it changed the replica."""
        self._changes.clear()
        try:
            integrate(self.doc, update)
        except ValueError as exc:  # yrs cannot decode it: nothing was touched
            raise InvalidUpdate(str(exc)) from None
        except ReplicaDamaged as exc:
            self._damage(str(exc), sender)
            raise InvalidUpdate("the update does not integrate") from None
        if not self._changes:
            return False
        self._size += len(update)
        return True

    def _check_intact(self) -> None:
        if self.damaged:
            raise RoomReset()

    def _damage(self, reason: str, sender: Peer | None) -> None:
        """Stop using this replica: its peers reconnect to one reloaded from the journal."""
        if self.damaged:
            return
        self.damaged = True
        log.error("replica of %s damaged (%s); reloading it from the journal", self.name, reason)
        for peer in self.peers:
            if peer is not sender:
                peer.connection.close_soon(RoomReset())
        if self._on_damage is not None:
            self._on_damage(self)

    # -- awareness -----------------------------------------------------------------------

    def awareness_from_peer(self, peer: Peer, payload: bytes) -> None:
        limits = self._limits
        if len(payload) > limits.awareness_bytes_per_peer:
            raise AwarenessTooLarge(f"awareness over {limits.awareness_bytes_per_peer} bytes")
        entries = decode_awareness(payload)
        claimed = peer.client_ids | {entry.client_id for entry in entries if not entry.removed}
        if len(claimed) > limits.awareness_clients_per_peer:
            raise AwarenessTooLarge(
                f"more than {limits.awareness_clients_per_peer} awareness clients on one peer"
            )
        fresh = self.awareness.apply(entries, time.monotonic())
        for entry in fresh:
            if entry.state == "null":
                peer.client_ids.discard(entry.client_id)
            else:
                peer.client_ids.add(entry.client_id)
        if fresh:
            self._fan_out(AwarenessMessage(payload), peer)
            self._pubsub.publish(self.name, relay.encode_awareness(payload))

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

    def keep_alive(self, now: float, sent: set[Connection]) -> None:
        """Send an empty awareness update to peers that heard nothing for `keepalive_s`.

        Providers drop a socket that received no message for 30 s, and a lone editor hears
        nothing from anyone; protocol-level pings are invisible to browser JavaScript.
        `sent` holds the connections already served this round (one socket, many rooms).
        """
        for peer in self.peers:
            quiet = now - peer.connection.last_sent >= self._limits.keepalive_s
            if quiet and peer.connection not in sent:
                sent.add(peer.connection)
                peer.offer(peer.encode(AwarenessMessage(NO_AWARENESS)))

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
            self._seq += 1
            self._pubsub.publish(self.name, relay.encode_update(self._sender, self._seq, one))

    def _fan_out(self, message: Any, origin: Peer | None) -> None:
        frames: dict[Hashable, bytes] = {}
        for peer in self.peers:
            if peer is origin:
                continue
            frame = frames.get(peer.framing)
            if frame is None:
                frame = frames[peer.framing] = peer.encode(message)
            peer.offer(frame)
