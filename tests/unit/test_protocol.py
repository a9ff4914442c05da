"""Codecs for y-websocket and Hocuspocus: property tests and byte vectors from the JS code.

The fixed vectors were printed by a Node script using lib0 0.2.120, yjs 13.6, y-protocols
1.0.7, @hocuspocus/common + provider 4.8.0 and the real ``OutgoingMessage`` of
@hocuspocus/server 4.7.0 (doc clientID 42 with text "hi"; address "doc\\0abc123").
"""

from __future__ import annotations

import pycrdt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collab.errors import MessageTooBig, ProtocolError
from collab.protocol import hocuspocus as hp
from collab.protocol import ywire
from collab.protocol.awareness import (
    AwarenessEntry,
    AwarenessRegistry,
    decode_awareness,
    encode_awareness,
)
from collab.protocol.lib0 import MAX_SAFE_INTEGER, Decoder, Encoder

BIG = 1 << 24
blobs = st.binary(max_size=64)
texts = st.text(max_size=20)
uints = st.integers(min_value=0, max_value=MAX_SAFE_INTEGER)

sync_messages = st.one_of(
    st.builds(ywire.SyncStep1, blobs),
    st.builds(ywire.SyncStep2, blobs),
    st.builds(ywire.Update, blobs),
)
y_messages = st.one_of(
    sync_messages,
    st.builds(ywire.AwarenessMessage, blobs),
    st.just(ywire.QueryAwareness()),
    st.builds(ywire.AuthDenied, texts),
)
# Messages that may sit anywhere in a frame (no optional trailing field).
h_closed_messages = st.one_of(
    sync_messages,
    st.builds(hp.SyncReply, sync_messages),
    st.builds(hp.HAwareness, blobs),
    st.just(hp.HQueryAwareness()),
    st.builds(hp.AuthToken, texts, texts),
    st.builds(hp.PermissionDenied, texts),
    st.builds(hp.Authenticated, st.sampled_from([hp.SCOPE_READ_WRITE, hp.SCOPE_READ_ONLY])),
    st.builds(hp.Stateless, texts),
    st.builds(hp.BroadcastStateless, texts),
    st.builds(hp.Close, texts),
    st.builds(hp.SyncStatus, st.booleans()),
)
# Messages whose end is only known from the end of the frame.
h_open_messages = st.one_of(
    st.builds(hp.AuthToken, texts, st.none()),
    st.just(hp.TokenSyncRequest()),
    st.just(hp.Close()),
)
documents = st.text(max_size=30).filter(lambda s: "\0" not in s)
sessions = st.none() | st.text(max_size=12)
h_frames = st.builds(hp.HFrame, documents, sessions, h_closed_messages | h_open_messages)
h_closed_frames = st.builds(hp.HFrame, documents, sessions, h_closed_messages)


def _vec(text: str) -> bytes:
    return bytes.fromhex(text)


# lib0 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "8001"),
        (300, "ac02"),
        (16384, "808001"),
        (2**32, "8080808010"),
        (MAX_SAFE_INTEGER, "ffffffffffffff0f"),
    ],
)
def test_var_uint_matches_lib0(value: int, expected: str) -> None:
    encoder = Encoder()
    encoder.write_var_uint(value)
    assert encoder.to_bytes().hex() == expected
    assert Decoder(_vec(expected)).read_var_uint() == value


def test_var_string_matches_lib0() -> None:
    encoder = Encoder()
    encoder.write_var_string("héllo 👋")
    assert encoder.to_bytes().hex() == "0b68c3a96c6c6f20f09f918b"


@given(st.lists(st.tuples(uints, texts, blobs)))
def test_lib0_round_trip(values: list[tuple[int, str, bytes]]) -> None:
    encoder = Encoder()
    for number, text, blob in values:
        encoder.write_var_uint(number)
        encoder.write_var_string(text)
        encoder.write_var_uint8_array(blob)
    decoder = Decoder(encoder.to_bytes())
    for number, text, blob in values:
        assert decoder.read_var_uint() == number
        assert decoder.read_var_string() == text
        assert decoder.read_var_uint8_array() == blob
    assert decoder.done and not decoder.has_more and decoder.remaining == 0


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80",
        b"\xff\xff",
        b"\x80\x80\x80\x80\x80\x80\x80\x10",  # 2**53: above MAX_SAFE_INTEGER
        b"\x80" * 8 + b"\x00",  # longer than 8 bytes
    ],
)
def test_var_uint_rejects(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        Decoder(data).read_var_uint()


def test_var_string_rejects_truncation_and_bad_utf8() -> None:
    with pytest.raises(ProtocolError):
        Decoder(b"\x05abc").read_var_string()
    with pytest.raises(ProtocolError):
        Decoder(b"\x02\xc3\x28").read_var_string()


# y-websocket ------------------------------------------------------------------------------

Y_UPDATE = _vec("01012a000401017402686900")
Y_VECTORS: list[tuple[ywire.YMessage, str]] = [
    (ywire.SyncStep1(_vec("012a02")), "000003012a02"),
    (ywire.SyncStep2(Y_UPDATE), "00010c01012a000401017402686900"),
    (ywire.Update(Y_UPDATE), "00020c01012a000401017402686900"),
    (ywire.QueryAwareness(), "03"),
    (ywire.AuthDenied("nope"), "0200046e6f7065"),
    (
        ywire.AwarenessMessage(
            _vec(
                "012a01267b2275736572223a7b226e616d65223a22416e6e222c22636f6c6f72223a2223663030227d7d"
            )
        ),
        "012a012a01267b2275736572223a7b226e616d65223a22416e6e222c22636f6c6f72223a2223663030227d7d",
    ),
]


@pytest.mark.parametrize(("message", "expected"), Y_VECTORS)
def test_ywire_matches_y_protocols(message: ywire.YMessage, expected: str) -> None:
    assert ywire.encode(message).hex() == expected
    assert ywire.decode(_vec(expected), max_size=BIG) == [message]


@given(y_messages)
def test_ywire_round_trip(message: ywire.YMessage) -> None:
    assert ywire.decode(ywire.encode(message), max_size=BIG) == [message]


@given(st.lists(y_messages, min_size=1, max_size=8))
def test_ywire_concatenated_in_order(messages: list[ywire.YMessage]) -> None:
    frame = b"".join(ywire.encode(m) for m in messages)
    assert ywire.decode(frame, max_size=BIG) == messages


@given(st.binary(max_size=200))
def test_ywire_random_bytes(frame: bytes) -> None:
    try:
        result = ywire.decode(frame, max_size=BIG)
    except ProtocolError:
        return
    assert isinstance(result, list)


def test_ywire_oversize_and_garbage() -> None:
    frame = ywire.encode(ywire.Update(b"x" * 100))
    with pytest.raises(MessageTooBig):
        ywire.decode(frame, max_size=50)
    for bad in (b"", b"\x07", b"\x00\x09\x00", b"\x02\x01\x00", b"\x00\x02\x05ab"):
        with pytest.raises(ProtocolError):
            ywire.decode(bad, max_size=BIG)


def test_pycrdt_update_passes_through() -> None:
    doc: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
    doc["t"] = text = pycrdt.Text()
    text += "hello"
    update = doc.get_update()
    for message in (ywire.SyncStep2(update), ywire.Update(update)):
        (decoded,) = ywire.decode(ywire.encode(message), max_size=BIG)
        assert decoded == message
        frame = hp.HFrame("doc", "s", message)
        (hdecoded,) = hp.decode(hp.encode(frame), max_size=BIG)
        assert hdecoded == frame
        other: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
        other.apply_update(decoded.update)
        other["t"] = received = pycrdt.Text()
        assert str(received) == "hello"
    step1 = ywire.SyncStep1(doc.get_state())
    assert ywire.decode(ywire.encode(step1), max_size=BIG) == [step1]


# Hocuspocus -------------------------------------------------------------------------------

KEY = ("doc", "abc123")
H_VECTORS: list[tuple[hp.HFrame, str]] = [
    # provider -> server
    (
        hp.HFrame(*KEY, hp.AuthToken("jwt.t", "4.8.0")),
        "0a646f63006162633132330200056a77742e7405342e382e30",
    ),
    (hp.HFrame(*KEY, ywire.SyncStep1(_vec("012a02"))), "0a646f6300616263313233000003012a02"),
    (hp.HFrame(*KEY, hp.Close()), "0a646f630061626331323307"),
    (hp.HFrame("doc", None, hp.Stateless('{"a":1}')), "03646f6305077b2261223a317d"),
    # server -> provider (the real server's OutgoingMessage)
    (
        hp.HFrame(*KEY, hp.Authenticated("read-write")),
        "0a646f630061626331323302020a726561642d7772697465",
    ),
    (hp.HFrame("doc", None, hp.Authenticated("readonly")), "03646f63020208726561646f6e6c79"),
    (
        hp.HFrame(*KEY, hp.PermissionDenied("permission-denied")),
        "0a646f63006162633132330201117065726d697373696f6e2d64656e696564",
    ),
    (hp.HFrame("doc", None, hp.TokenSyncRequest()), "03646f630200"),
    (hp.HFrame(*KEY, hp.SyncStatus(True)), "0a646f63006162633132330801"),
    (hp.HFrame("doc", None, hp.SyncStatus(False)), "03646f630800"),
    (hp.HFrame("doc", None, ywire.Update(Y_UPDATE)), "03646f6300020c01012a000401017402686900"),
    (hp.HFrame("doc", None, hp.SyncReply(ywire.SyncStep1(_vec("012a02")))), "03646f63040003012a02"),
    (hp.HFrame(*KEY, hp.Stateless("hi")), "0a646f630061626331323305026869"),
    (hp.HFrame("doc", None, hp.BroadcastStateless("all")), "03646f630603616c6c"),
    (
        hp.HFrame(*KEY, hp.Close("Server closed the connection")),
        "0a646f6300616263313233071c53657276657220636c6f7365642074686520636f6e6e656374696f6e",
    ),
    (hp.HFrame("doc", None, hp.HQueryAwareness()), "03646f6303"),
    (hp.HFrame("", None, hp.Ping()), "09"),
    (hp.HFrame("", None, hp.Pong()), "0a"),
]


@pytest.mark.parametrize(("frame", "expected"), H_VECTORS)
def test_hocuspocus_matches_js(frame: hp.HFrame, expected: str) -> None:
    assert hp.encode(frame).hex() == expected
    assert hp.decode(_vec(expected), max_size=BIG) == [frame]


def test_hocuspocus_address_and_reply() -> None:
    (frame,) = hp.decode(_vec("0a646f63006162633132330200056a77742e7405342e382e30"), max_size=BIG)
    assert frame.address == "doc\0abc123"
    assert hp.split_address("doc") == ("doc", None)
    reply = frame.reply(hp.Authenticated(hp.SCOPE_READ_ONLY))
    assert reply.address == frame.address
    assert isinstance(reply.message, hp.Authenticated) and reply.message.read_only


@given(h_frames)
def test_hocuspocus_round_trip(frame: hp.HFrame) -> None:
    assert hp.decode(hp.encode(frame), max_size=BIG) == [frame]


@given(st.lists(h_closed_frames, max_size=6), st.none() | h_frames)
def test_hocuspocus_concatenated_in_order(frames: list[hp.HFrame], last: hp.HFrame | None) -> None:
    expected = [*frames, last] if last is not None else frames
    if not expected:
        return
    data = b"".join(hp.encode(f) for f in expected)
    assert hp.decode(data, max_size=BIG) == expected


@given(st.binary(max_size=200))
def test_hocuspocus_random_bytes(frame: bytes) -> None:
    try:
        result = hp.decode(frame, max_size=BIG)
    except ProtocolError:
        return
    assert isinstance(result, list)


def test_hocuspocus_oversize_and_garbage() -> None:
    frame = hp.encode(hp.HFrame("doc", None, ywire.Update(b"x" * 100)))
    with pytest.raises(MessageTooBig):
        hp.decode(frame, max_size=50)
    for bad in (b"", b"\x0b", b"\x03doc\x09", b"\x03doc\x02\x05", b"\x03doc\x08\x02", b"\x03do"):
        with pytest.raises(ProtocolError):
            hp.decode(bad, max_size=BIG)


# Awareness --------------------------------------------------------------------------------

ANN = '{"user":{"name":"Ann","color":"#f00"}}'
json_states = st.one_of(
    st.just("null"),
    st.builds(lambda n: f'{{"user":{{"name":{n}}}}}', st.integers()),
    st.sampled_from(["{}", "[]", '"x"', "1.5", "true"]),
)
entries = st.builds(AwarenessEntry, uints, uints, json_states)


def test_awareness_matches_y_protocols() -> None:
    update = _vec(
        "012a01267b2275736572223a7b226e616d65223a22416e6e222c22636f6c6f72223a2223663030227d7d"
    )
    assert decode_awareness(update) == [AwarenessEntry(42, 1, ANN)]
    assert encode_awareness([AwarenessEntry(42, 1, ANN)]) == update
    (removed,) = decode_awareness(_vec("012a02046e756c6c"))
    assert removed == AwarenessEntry(42, 2, "null") and removed.removed


@given(st.lists(entries, max_size=8))
def test_awareness_round_trip(items: list[AwarenessEntry]) -> None:
    assert decode_awareness(encode_awareness(items)) == items


@given(st.binary(max_size=100))
def test_awareness_random_bytes(data: bytes) -> None:
    try:
        result = decode_awareness(data)
    except ProtocolError:
        return
    assert all(isinstance(e, AwarenessEntry) for e in result)


@pytest.mark.parametrize("state", ["{", "NaN", "[" * 100_000, "undefined"])
def test_awareness_rejects_bad_json(state: str) -> None:
    with pytest.raises(ProtocolError):
        decode_awareness(encode_awareness([AwarenessEntry(1, 1, state)]))


def test_registry_clock_rules() -> None:
    reg = AwarenessRegistry()
    assert reg.snapshot() is None
    first = AwarenessEntry(7, 3, ANN)
    assert reg.apply([first]) == [first]
    assert reg.apply([AwarenessEntry(7, 3, "{}"), AwarenessEntry(7, 2, "{}")]) == []
    assert 7 in reg and len(reg) == 1 and reg.client_ids() == {7}
    assert decode_awareness(reg.snapshot() or b"") == [first]
    # equal clock with null removes a known client
    gone = AwarenessEntry(7, 3, "null")
    assert reg.apply([gone]) == [gone]
    assert 7 not in reg and reg.snapshot() is None
    # a late, older state cannot resurrect it; a newer one can
    assert reg.apply([AwarenessEntry(7, 2, ANN)]) == []
    assert reg.apply([AwarenessEntry(7, 4, ANN)]) == [AwarenessEntry(7, 4, ANN)]


def test_registry_remove() -> None:
    reg = AwarenessRegistry()
    reg.apply([AwarenessEntry(1, 5, "{}"), AwarenessEntry(2, 1, "{}")])
    removal = reg.remove([1, 1, 99])
    assert removal is not None
    assert decode_awareness(removal) == [AwarenessEntry(1, 6, "null")]
    assert reg.client_ids() == {2}
    assert reg.remove([1, 99]) is None
    # a peer's copy of the state accepts the removal
    peer = AwarenessRegistry()
    peer.apply([AwarenessEntry(1, 5, "{}")])
    assert peer.apply(decode_awareness(removal)) == [AwarenessEntry(1, 6, "null")]
    assert len(peer) == 0
