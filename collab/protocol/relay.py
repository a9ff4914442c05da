"""What rooms publish to the same room on other nodes.

Each payload starts with a kind byte:

    s  sequenced update: varString sender, varUint seq, varUint8Array update
    u  update without a sequence (a node of an earlier release)
    a  awareness update, as y-protocols encodes it

A sender is one room replica on one node (`node id/incarnation`); its seq counts its updates
from 1 without holes, so a receiver that sees a hole knows it missed one. An empty payload
is the transport saying that messages on this topic were lost (see `collab.pubsub`).
"""

from __future__ import annotations

from dataclasses import dataclass

from collab.errors import ProtocolError
from collab.protocol.lib0 import Decoder, Encoder

SEQUENCED, UNSEQUENCED, AWARENESS = b"s", b"u", b"a"


@dataclass(frozen=True, slots=True)
class Relayed:
    update: bytes
    sender: str = ""  # empty: not sequenced
    seq: int = 0


@dataclass(frozen=True, slots=True)
class RelayedAwareness:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Lost:
    """Something published on this topic never arrived: catch up from the log."""


def encode_update(sender: str, seq: int, update: bytes) -> bytes:
    encoder = Encoder()
    encoder.write_var_string(sender)
    encoder.write_var_uint(seq)
    encoder.write_var_uint8_array(update)
    return SEQUENCED + encoder.to_bytes()


def encode_awareness(payload: bytes) -> bytes:
    return AWARENESS + payload


def decode(payload: bytes) -> Relayed | RelayedAwareness | Lost:
    """Read one published payload; ProtocolError if it is none of the above."""
    if not payload:
        return Lost()
    kind, body = payload[:1], payload[1:]
    if kind == SEQUENCED:
        decoder = Decoder(body)
        sender = decoder.read_var_string()
        seq = decoder.read_var_uint()
        update = decoder.read_var_uint8_array()
        if not sender or seq < 1 or not decoder.done:
            raise ProtocolError("malformed relayed update")
        return Relayed(update, sender, seq)
    if kind == UNSEQUENCED:
        return Relayed(body)
    if kind == AWARENESS:
        return RelayedAwareness(body)
    raise ProtocolError("unknown relay message kind")


class Arrivals:
    """The last seq heard from each sender of one room: tells when one went missing."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def missed(self, sender: str, seq: int) -> bool:
        """Record an arrival; True if an earlier message of this sender never came. A sender
        heard for the first time past seq 1 counts as a miss too: what it sent before may be
        neither heard nor yet in the log that this replica was read from."""
        last = self._last.get(sender, 0)
        if seq <= last:
            return False  # a repeat (a retried publish): nothing new is missing
        self._last[sender] = seq
        return seq != last + 1
