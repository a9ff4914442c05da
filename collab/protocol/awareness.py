"""y-protocols awareness updates, and a registry of the latest state per client.

Wire layout (y-protocols/awareness ``encodeAwarenessUpdate``)::

    varUint count
    count x (varUint clientID, varUint clock, varString JSON.stringify(state))

A state of ``null`` (the JSON text ``"null"``) removes the client. Receivers keep an entry
only if its clock is newer than the one they hold, or equal with a ``null`` state for a
client they still have (``applyAwarenessUpdate``). States are JSON-validated on decode
(strict JSON, as ``JSON.parse`` accepts it) so a peer cannot relay text other clients fail on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from collab.errors import ProtocolError
from collab.protocol.lib0 import Decoder, Encoder

NULL_STATE = "null"


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    """One client's awareness state; ``state`` is JSON text, ``"null"`` when removed."""

    client_id: int
    clock: int
    state: str

    @property
    def removed(self) -> bool:
        return self.state.strip(" \t\r\n") == NULL_STATE


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _check_json(text: str) -> None:
    try:
        json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ProtocolError("awareness state is not valid JSON") from None


def decode_awareness(payload: bytes) -> list[AwarenessEntry]:
    """Parse an awareness update. Raises ``ProtocolError`` on malformed input."""
    decoder = Decoder(payload)
    count = decoder.read_var_uint()
    if count > decoder.remaining // 3:  # every entry takes at least 3 bytes
        raise ProtocolError("awareness entry count exceeds payload")
    entries: list[AwarenessEntry] = []
    for _ in range(count):
        client_id = decoder.read_var_uint()
        clock = decoder.read_var_uint()
        state = decoder.read_var_string()
        _check_json(state)
        entries.append(AwarenessEntry(client_id, clock, state))
    if decoder.has_more:
        raise ProtocolError("trailing bytes after awareness update")
    return entries


def encode_awareness(entries: Iterable[AwarenessEntry]) -> bytes:
    """Encode entries as one awareness update, in the given order."""
    items = list(entries)
    encoder = Encoder()
    encoder.write_var_uint(len(items))
    for entry in items:
        encoder.write_var_uint(entry.client_id)
        encoder.write_var_uint(entry.clock)
        encoder.write_var_string(entry.state)
    return encoder.to_bytes()


class AwarenessRegistry:
    """The latest awareness state per client id, with y-protocols' clock rules.

    Pure bookkeeping: a room feeds it decoded entries and relays what ``apply`` returns.
    Clocks of removed clients are kept so a late, older state cannot resurrect them.
    """

    __slots__ = ("_clocks", "_seen", "_states")

    def __init__(self) -> None:
        self._states: dict[int, AwarenessEntry] = {}
        self._clocks: dict[int, int] = {}
        self._seen: dict[int, float] = {}  # monotonic time of each client's last update

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._states

    def client_ids(self) -> frozenset[int]:
        """Ids of the clients that currently have a state."""
        return frozenset(self._states)

    def apply(self, entries: Iterable[AwarenessEntry], now: float = 0.0) -> list[AwarenessEntry]:
        """Record ``entries`` (seen at ``now``); return those that were newer, to relay."""
        accepted: list[AwarenessEntry] = []
        for entry in entries:
            if self._is_newer(entry):
                self._clocks[entry.client_id] = entry.clock
                self._seen[entry.client_id] = now
                if entry.removed:
                    self._states.pop(entry.client_id, None)
                else:
                    self._states[entry.client_id] = entry
                accepted.append(entry)
        return accepted

    def _is_newer(self, entry: AwarenessEntry) -> bool:
        current = self._clocks.get(entry.client_id, 0)
        if entry.clock > current:
            return True
        return entry.clock == current and entry.removed and entry.client_id in self._states

    def remove(self, client_ids: Iterable[int]) -> bytes | None:
        """Drop these clients; return the removal update to relay (None if none was known)."""
        removals: list[AwarenessEntry] = []
        for client_id in dict.fromkeys(client_ids):
            if self._states.pop(client_id, None) is None:
                continue
            clock = self._clocks[client_id] + 1
            self._clocks[client_id] = clock
            removals.append(AwarenessEntry(client_id, clock, NULL_STATE))
        return encode_awareness(removals) if removals else None

    def outdated(self, before: float) -> list[int]:
        """Clients with a state not renewed since ``before`` (their node may be gone)."""
        return [cid for cid in self._states if self._seen.get(cid, 0.0) < before]

    def snapshot(self) -> bytes | None:
        """One update with every current state, or None when there is none."""
        if not self._states:
            return None
        return encode_awareness(self._states.values())
