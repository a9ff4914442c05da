"""The y-websocket protocol (npm ``y-websocket`` / ``y-protocols``), sans I/O.

A websocket frame holds messages back to back; y-websocket sends one per frame, this
decoder reads until the frame is exhausted. Wire layout (lib0 encoding, see ``lib0``)::

    Sync            varUint 0, then a sync message (y-protocols/sync):
      SyncStep1       varUint 0, varUint8Array state vector
      SyncStep2       varUint 1, varUint8Array update (v1)
      Update          varUint 2, varUint8Array update (v1)
    Awareness       varUint 1, varUint8Array awareness update (see ``awareness``)
    Auth            varUint 2, then (y-protocols/auth):
      PermissionDenied varUint 0, varString reason
    QueryAwareness  varUint 3 (no payload)

``decode`` raises ``MessageTooBig`` for frames over ``max_size``, ``TooManyMessages`` past
``max_messages`` messages, and ``ProtocolError`` for anything else it cannot parse: an empty
frame, an unknown type, a truncated field. Update
and awareness payloads are returned as opaque bytes; validating them is the room's job.
"""

from __future__ import annotations

from dataclasses import dataclass

from collab.errors import MessageTooBig, ProtocolError, TooManyMessages
from collab.protocol.lib0 import Decoder, Encoder

MESSAGE_SYNC = 0
MESSAGE_AWARENESS = 1
MESSAGE_AUTH = 2
MESSAGE_QUERY_AWARENESS = 3

SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2

AUTH_PERMISSION_DENIED = 0


@dataclass(frozen=True, slots=True)
class SyncStep1:
    """The sender's state vector: "send me what I am missing"."""

    state_vector: bytes


@dataclass(frozen=True, slots=True)
class SyncStep2:
    """The answer to a SyncStep1: an update with everything the peer is missing."""

    update: bytes


@dataclass(frozen=True, slots=True)
class Update:
    """An incremental document update."""

    update: bytes


@dataclass(frozen=True, slots=True)
class AwarenessMessage:
    """A raw y-protocols awareness update (decode it with ``awareness.decode_awareness``)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class QueryAwareness:
    """Ask the other side to send every awareness state it knows."""


@dataclass(frozen=True, slots=True)
class AuthDenied:
    """y-protocols/auth ``messagePermissionDenied``."""

    reason: str


SyncMessage = SyncStep1 | SyncStep2 | Update
YMessage = SyncStep1 | SyncStep2 | Update | AwarenessMessage | QueryAwareness | AuthDenied


def check_size(frame: bytes, max_size: int) -> None:
    """Raise ``MessageTooBig`` if ``frame`` is over ``max_size``, ``ProtocolError`` if empty."""
    if len(frame) > max_size:
        raise MessageTooBig(f"frame of {len(frame)} bytes exceeds {max_size}")
    if not frame:
        raise ProtocolError("empty frame")


def read_sync(decoder: Decoder) -> SyncMessage:
    """Read one y-protocols sync message (the part after the outer Sync type)."""
    kind = decoder.read_var_uint()
    if kind == SYNC_STEP1:
        return SyncStep1(decoder.read_var_uint8_array())
    if kind == SYNC_STEP2:
        return SyncStep2(decoder.read_var_uint8_array())
    if kind == SYNC_UPDATE:
        return Update(decoder.read_var_uint8_array())
    raise ProtocolError(f"unknown sync message type {kind}")


def write_sync(encoder: Encoder, msg: SyncMessage) -> None:
    """Write one y-protocols sync message (without the outer Sync type)."""
    if isinstance(msg, SyncStep1):
        encoder.write_var_uint(SYNC_STEP1)
        encoder.write_var_uint8_array(msg.state_vector)
    elif isinstance(msg, SyncStep2):
        encoder.write_var_uint(SYNC_STEP2)
        encoder.write_var_uint8_array(msg.update)
    else:
        encoder.write_var_uint(SYNC_UPDATE)
        encoder.write_var_uint8_array(msg.update)


def _read_message(decoder: Decoder) -> YMessage:
    kind = decoder.read_var_uint()
    if kind == MESSAGE_SYNC:
        return read_sync(decoder)
    if kind == MESSAGE_AWARENESS:
        return AwarenessMessage(decoder.read_var_uint8_array())
    if kind == MESSAGE_QUERY_AWARENESS:
        return QueryAwareness()
    if kind == MESSAGE_AUTH:
        sub = decoder.read_var_uint()
        if sub != AUTH_PERMISSION_DENIED:
            raise ProtocolError(f"unknown auth message type {sub}")
        return AuthDenied(decoder.read_var_string())
    raise ProtocolError(f"unknown message type {kind}")


def check_count(count: int, max_messages: int | None) -> None:
    """Raise ``TooManyMessages`` once a frame holds more than ``max_messages``: each costs
    work (an answer, an apply, a journal row) that a per-frame rate limit would not see."""
    if max_messages is not None and count > max_messages:
        raise TooManyMessages(f"more than {max_messages} messages in one frame")


def decode(frame: bytes, *, max_size: int, max_messages: int | None = None) -> list[YMessage]:
    """Parse every message in ``frame``. Raises ``ProtocolError``; does no I/O."""
    check_size(frame, max_size)
    decoder = Decoder(frame)
    messages: list[YMessage] = []
    while decoder.has_more:
        messages.append(_read_message(decoder))
        check_count(len(messages), max_messages)
    return messages


def write(encoder: Encoder, msg: YMessage) -> None:
    """Append one message to ``encoder``."""
    if isinstance(msg, SyncStep1 | SyncStep2 | Update):
        encoder.write_var_uint(MESSAGE_SYNC)
        write_sync(encoder, msg)
    elif isinstance(msg, AwarenessMessage):
        encoder.write_var_uint(MESSAGE_AWARENESS)
        encoder.write_var_uint8_array(msg.payload)
    elif isinstance(msg, QueryAwareness):
        encoder.write_var_uint(MESSAGE_QUERY_AWARENESS)
    else:
        encoder.write_var_uint(MESSAGE_AUTH)
        encoder.write_var_uint(AUTH_PERMISSION_DENIED)
        encoder.write_var_string(msg.reason)


def encode(msg: YMessage) -> bytes:
    """The bytes of one message, as y-websocket sends it (one message per frame)."""
    encoder = Encoder()
    write(encoder, msg)
    return encoder.to_bytes()
