"""The Hocuspocus v4 protocol (``@hocuspocus/provider`` and ``@hocuspocus/server`` 4.x), sans I/O.

Verified against the published provider 4.8.0 and server 4.7.0 sources. Every message
starts with an address, then a type (lib0 encoding, see ``lib0``)::

    address         varString: document name, or name + "\\0" + session id when the provider
                    runs with ``sessionAwareness`` (several providers for one document on a
                    socket). The server splits at the first NUL and echoes the address
                    exactly as received, so replies reach the right provider.
    0  Sync         a y-protocols sync message: 0 SyncStep1 sv | 1 SyncStep2 update |
                    2 Update update (each a varUint8Array), as in ``ywire``
    1  Awareness    varUint8Array awareness update
    2  Auth         varUint subtype, then:
                      0 Token: client -> server varString token [, varString provider
                        version, e.g. "4.8.0"; absent in old providers];
                        server -> client nothing (a token-sync request)
                      1 PermissionDenied: varString reason (server: "permission-denied")
                      2 Authenticated: varString scope, "read-write" or "readonly"
    3  QueryAwareness   no payload
    4  SyncReply    a sync message like 0, but no SyncStep1 is sent back (server side)
    5  Stateless    varString payload (both ways; the server's broadcast also uses 5)
    6  BroadcastStateless  varString payload (server-internal; a client sending it is an error)
    7  CLOSE        client -> server: no payload; server -> client: varString reason
    8  SyncStatus   varUint 1 (update applied and stored) or 0 (rejected, e.g. read-only);
                    the server sends one after each SyncStep2/Update it receives
    9  Ping, 10 Pong  connection level: the whole frame is the single type byte, no address

After a successful auth the server answers ``[address][2][2]["read-write"|"readonly"]``, then
the client sends SyncStep1 (and its awareness); the server replies with its own SyncStep1
and the SyncStep2. Real peers send one message per frame; ``decode`` still reads messages
until the frame is exhausted. Because a few fields are optional at the end of a message (the
provider version, the token, the close reason), such a message must end its frame.
Decoded Ping/Pong frames carry ``document=""`` and ``session=None``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from collab.errors import ProtocolError
from collab.protocol.lib0 import Decoder, Encoder
from collab.protocol.ywire import (
    SyncMessage,
    SyncStep1,
    SyncStep2,
    Update,
    check_count,
    check_size,
)
from collab.protocol.ywire import read_sync as _read_sync
from collab.protocol.ywire import write_sync as _write_sync

SYNC, AWARENESS, AUTH, QUERY_AWARENESS, SYNC_REPLY = 0, 1, 2, 3, 4
STATELESS, BROADCAST_STATELESS, CLOSE, SYNC_STATUS, PING, PONG = 5, 6, 7, 8, 9, 10
AUTH_TOKEN, AUTH_PERMISSION_DENIED, AUTH_AUTHENTICATED = 0, 1, 2
SCOPE_READ_WRITE = "read-write"
SCOPE_READ_ONLY = "readonly"
SEPARATOR = "\0"


@dataclass(frozen=True, slots=True)
class SyncReply:
    sync: SyncMessage


@dataclass(frozen=True, slots=True)
class HAwareness:
    payload: bytes


@dataclass(frozen=True, slots=True)
class HQueryAwareness:
    pass


@dataclass(frozen=True, slots=True)
class AuthToken:
    token: str
    provider_version: str | None = None


@dataclass(frozen=True, slots=True)
class TokenSyncRequest:
    """Server -> client: "send your token again" (Auth/Token without a token)."""


@dataclass(frozen=True, slots=True)
class PermissionDenied:
    reason: str


@dataclass(frozen=True, slots=True)
class Authenticated:
    scope: str

    @property
    def read_only(self) -> bool:
        return self.scope == SCOPE_READ_ONLY


@dataclass(frozen=True, slots=True)
class Stateless:
    payload: str


@dataclass(frozen=True, slots=True)
class BroadcastStateless:
    payload: str


@dataclass(frozen=True, slots=True)
class Close:
    """CLOSE: ``reason`` is None from a provider, a text from the server."""

    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SyncStatus:
    saved: bool


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class Pong:
    pass


HMessage = (
    SyncStep1
    | SyncStep2
    | Update
    | SyncReply
    | HAwareness
    | HQueryAwareness
    | AuthToken
    | TokenSyncRequest
    | PermissionDenied
    | Authenticated
    | Stateless
    | BroadcastStateless
    | Close
    | SyncStatus
    | Ping
    | Pong
)


@dataclass(frozen=True, slots=True)
class HFrame:
    """One message for one document; ``session`` is the provider's session id, if any."""

    document: str
    session: str | None
    message: HMessage

    @property
    def address(self) -> str:
        """The name field on the wire: ``document`` or ``document + "\\0" + session``."""
        if self.session is None:
            return self.document
        return self.document + SEPARATOR + self.session

    def reply(self, message: HMessage) -> HFrame:
        """A frame to the same address, as the real server answers."""
        return HFrame(self.document, self.session, message)


def split_address(address: str) -> tuple[str, str | None]:
    """``"name\\0session"`` -> ``("name", "session")``; ``"name"`` -> ``("name", None)``."""
    name, sep, session = address.partition(SEPARATOR)
    return name, (session if sep else None)


def _read_auth(decoder: Decoder) -> HMessage:
    sub = decoder.read_var_uint()
    if sub == AUTH_TOKEN:
        if decoder.done:
            return TokenSyncRequest()
        token = decoder.read_var_string()
        version = decoder.read_var_string() if decoder.has_more else None
        return AuthToken(token, version)
    if sub == AUTH_PERMISSION_DENIED:
        return PermissionDenied(decoder.read_var_string())
    if sub == AUTH_AUTHENTICATED:
        return Authenticated(decoder.read_var_string())
    raise ProtocolError(f"unknown auth message type {sub}")


def _read_sync_status(decoder: Decoder) -> SyncStatus:
    value = decoder.read_var_uint()
    if value > 1:
        raise ProtocolError(f"bad sync status {value}")
    return SyncStatus(value == 1)


def _read_close(decoder: Decoder) -> Close:
    return Close(decoder.read_var_string() if decoder.has_more else None)


_READERS: dict[int, Callable[[Decoder], HMessage]] = {
    SYNC: _read_sync,
    AWARENESS: lambda d: HAwareness(d.read_var_uint8_array()),
    AUTH: _read_auth,
    QUERY_AWARENESS: lambda d: HQueryAwareness(),
    SYNC_REPLY: lambda d: SyncReply(_read_sync(d)),
    STATELESS: lambda d: Stateless(d.read_var_string()),
    BROADCAST_STATELESS: lambda d: BroadcastStateless(d.read_var_string()),
    CLOSE: _read_close,
    SYNC_STATUS: _read_sync_status,
}


def _read_frame(decoder: Decoder) -> HFrame:
    document, session = split_address(decoder.read_var_string())
    kind = decoder.read_var_uint()
    reader = _READERS.get(kind)
    if reader is None:
        raise ProtocolError(f"unknown message type {kind}")
    return HFrame(document, session, reader(decoder))


def decode(frame: bytes, *, max_size: int, max_messages: int | None = None) -> list[HFrame]:
    """Parse every message in ``frame``. Raises ``ProtocolError``; does no I/O."""
    check_size(frame, max_size)
    if len(frame) == 1 and frame[0] in (PING, PONG):
        return [HFrame("", None, Ping() if frame[0] == PING else Pong())]
    decoder = Decoder(frame)
    frames: list[HFrame] = []
    while decoder.has_more:
        frames.append(_read_frame(decoder))
        check_count(len(frames), max_messages)
    return frames


def _write_auth(encoder: Encoder, msg: HMessage) -> None:
    encoder.write_var_uint(AUTH)
    if isinstance(msg, AuthToken):
        encoder.write_var_uint(AUTH_TOKEN)
        encoder.write_var_string(msg.token)
        if msg.provider_version is not None:
            encoder.write_var_string(msg.provider_version)
    elif isinstance(msg, TokenSyncRequest):
        encoder.write_var_uint(AUTH_TOKEN)
    elif isinstance(msg, PermissionDenied):
        encoder.write_var_uint(AUTH_PERMISSION_DENIED)
        encoder.write_var_string(msg.reason)
    elif isinstance(msg, Authenticated):
        encoder.write_var_uint(AUTH_AUTHENTICATED)
        encoder.write_var_string(msg.scope)


def _write_text(encoder: Encoder, msg: HMessage) -> None:
    if isinstance(msg, Stateless):
        encoder.write_var_uint(STATELESS)
        encoder.write_var_string(msg.payload)
    elif isinstance(msg, BroadcastStateless):
        encoder.write_var_uint(BROADCAST_STATELESS)
        encoder.write_var_string(msg.payload)
    elif isinstance(msg, Close):
        encoder.write_var_uint(CLOSE)
        if msg.reason is not None:
            encoder.write_var_string(msg.reason)


def _write_message(encoder: Encoder, msg: HMessage) -> None:
    if isinstance(msg, SyncStep1 | SyncStep2 | Update):
        encoder.write_var_uint(SYNC)
        _write_sync(encoder, msg)
    elif isinstance(msg, SyncReply):
        encoder.write_var_uint(SYNC_REPLY)
        _write_sync(encoder, msg.sync)
    elif isinstance(msg, HAwareness):
        encoder.write_var_uint(AWARENESS)
        encoder.write_var_uint8_array(msg.payload)
    elif isinstance(msg, HQueryAwareness):
        encoder.write_var_uint(QUERY_AWARENESS)
    elif isinstance(msg, SyncStatus):
        encoder.write_var_uint(SYNC_STATUS)
        encoder.write_var_uint(1 if msg.saved else 0)
    elif isinstance(msg, AuthToken | TokenSyncRequest | PermissionDenied | Authenticated):
        _write_auth(encoder, msg)
    else:
        _write_text(encoder, msg)


def write(encoder: Encoder, frame: HFrame) -> None:
    """Append one frame's message to ``encoder`` (Ping/Pong: the type byte only)."""
    if isinstance(frame.message, Ping | Pong):
        encoder.write_var_uint(PING if isinstance(frame.message, Ping) else PONG)
        return
    encoder.write_var_string(frame.address)
    _write_message(encoder, frame.message)


def encode(frame: HFrame) -> bytes:
    """The bytes the real server (or provider) sends for ``frame``."""
    encoder = Encoder()
    write(encoder, frame)
    return encoder.to_bytes()
