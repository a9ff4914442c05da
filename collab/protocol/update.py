"""A structural check of Yjs v1 updates and state vectors, before yrs sees them.

yrs trusts the counts it reads: a 5-byte update declaring 268M clients makes it reserve
512 MiB, and a deeply nested `Any` value overflows its stack. This walk reads every field of
the update the way yrs's v1 decoder does, without integrating anything, and refuses what no
Yjs client sends: a count larger than the bytes left could hold, a number wider than yrs reads,
clocks that overflow 32 bits, content or type kinds outside Yjs's (yrs's `Move` and weak
links), nesting deeper than ``MAX_DEPTH``, trailing bytes. Legacy JSON content (Yjs 12; no
current client writes it) is refused too: yrs reads one string more of it than Yjs writes,
so past it yrs would read other fields than this check did. Layout (lib0 encoding)::

    update      varUint clients, clients x (varUint structs, varUint client, varUint clock,
                structs x struct), then the delete set
    struct      u8 info; info & 31 = 0 GC (varUint len) | 10 Skip (varUint len) | item
    item        [ID origin if info & 128] [ID right origin if info & 64]
                [if neither: varUint 1 + varString root name | 0 + ID parent;
                 varString parent key if info & 32] content of kind info & 31
    delete set  varUint clients, clients x (varUint client, varUint ranges,
                ranges x (varUint clock, varUint len))
    state vec.  varUint clients, clients x (varUint client, varUint clock)

Passing the check does not make an update safe to integrate (yrs can still fail on one that
decodes): the room treats any failure there as a damaged replica. It makes the decode cheap
and bounded, and turns malformed input into a ``ProtocolError`` that touches nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from collab.errors import ProtocolError
from collab.protocol.lib0 import Decoder

MAX_DEPTH = 64  # nesting of lib0 `Any` values (arrays and maps inside arrays and maps)
_U32 = 2**32 - 1
_CLIENT_MAX = 2**53 - 1

GC, DELETED, JSON, BINARY, STRING, EMBED, FORMAT, TYPE, ANY, DOC, SKIP = range(11)
XML_ELEMENT, XML_HOOK, LAST_TYPE_REF = 3, 5, 6  # Array, Map, Text, XmlElement, ..., XmlText
HAS_ORIGIN, HAS_RIGHT_ORIGIN, HAS_PARENT_SUB = 0x80, 0x40, 0x20


def _u32(decoder: Decoder) -> int:
    value = decoder.read_var_uint()
    if value > _U32:
        raise ProtocolError("number wider than 32 bits")
    return value


def _count(decoder: Decoder, min_bytes: int) -> int:
    """A declared count, refused when the bytes left could not hold that many items."""
    count = decoder.read_var_uint()
    if count * min_bytes > decoder.remaining:
        raise ProtocolError("declared count exceeds the bytes that follow")
    return count


_FIXED = {124: 4, 123: 8, 122: 8}  # float32, float64, bigint
_EMPTY = frozenset((127, 126, 121, 120))  # undefined, null, false, true


def _any(decoder: Decoder, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    tag = decoder.read_u8()
    if tag in _EMPTY:
        return
    if tag == 125:
        decoder.read_var_int()
    elif tag in _FIXED:
        decoder.skip(_FIXED[tag])
    elif tag in (119, 116):  # string, bytes
        decoder.read_var_uint8_array()
    elif tag == 118:  # map: key, value pairs
        for _ in range(_count(decoder, 2)):
            decoder.read_var_uint8_array()
            _any(decoder, depth + 1)
    elif tag == 117:  # array
        for _ in range(_count(decoder, 1)):
            _any(decoder, depth + 1)
    else:
        raise ProtocolError(f"unknown value type {tag}")


def _any_list(decoder: Decoder) -> int:
    count = _count(decoder, 1)
    for _ in range(count):
        _any(decoder)
    return count


def _one_string(decoder: Decoder) -> int:
    decoder.read_var_uint8_array()
    return 1


def _format(decoder: Decoder) -> int:
    decoder.read_var_uint8_array()
    decoder.read_var_uint8_array()
    return 1


def _string(decoder: Decoder) -> int:
    raw = decoder.read_var_uint8_array()
    if raw.isascii():
        return len(raw)
    try:  # clocks count UTF-16 code units, as JavaScript strings do
        return len(raw.decode().encode("utf-16-le")) // 2
    except UnicodeDecodeError:
        raise ProtocolError("string is not valid UTF-8") from None


def _type(decoder: Decoder) -> int:
    ref = decoder.read_var_uint()
    if ref > LAST_TYPE_REF:
        raise ProtocolError(f"unknown shared type {ref}")
    if ref in (XML_ELEMENT, XML_HOOK):
        decoder.read_var_uint8_array()
    return 1


def _doc(decoder: Decoder) -> int:
    decoder.read_var_uint8_array()
    _any(decoder)
    return 1


# Each reads one item's content and returns its length in clock ticks (an upper bound).
_CONTENT: dict[int, Callable[[Decoder], int]] = {
    DELETED: _u32,
    BINARY: _one_string,
    STRING: _string,
    EMBED: _one_string,
    FORMAT: _format,
    TYPE: _type,
    ANY: _any_list,
    DOC: _doc,
}


@dataclass(slots=True)
class Needs:
    """What an update carries and what it builds on, per client: `has[c] = (start, end)` clocks
    of its structs, `refs[c]` one past the highest clock it refers to (origins, parents,
    deletions). It integrates at once, with nothing left pending, when every `start` and every
    `refs` is within what the document has, counting what the update itself brings."""

    has: dict[int, tuple[int, int]] = field(default_factory=dict)
    refs: dict[int, int] = field(default_factory=dict)
    gaps: bool = False  # it holds Skip structs: a merge of updates that were not contiguous
    deletes: list[tuple[int, int, int]] = field(default_factory=list)  # (client, clock, len)

    def refer(self, client: int, clock: int) -> None:
        if clock >= self.refs.get(client, 0):
            self.refs[client] = clock + 1

    def missing(self, state: dict[int, int]) -> bool:
        """True if integrating it into a document with `state` would leave parts pending."""
        if self.gaps:
            return True
        for client, (start, _) in self.has.items():
            if start > state.get(client, 0):
                return True
        for client, needed in self.refs.items():
            known = max(state.get(client, 0), self.has.get(client, (0, 0))[1])
            if needed > known:
                return True
        return False


def _client(decoder: Decoder) -> int:
    client = decoder.read_var_uint()
    if client > _CLIENT_MAX:
        raise ProtocolError("client id out of range")
    return client


def _id(decoder: Decoder, needs: Needs) -> None:
    client = _client(decoder)
    needs.refer(client, _u32(decoder))


def _struct(decoder: Decoder, needs: Needs) -> int:
    """Read one struct; return its length."""
    info = decoder.read_u8()
    kind = info & 0x1F
    if kind in (GC, SKIP):
        needs.gaps = needs.gaps or kind == SKIP
        return _u32(decoder)
    reader = _CONTENT.get(kind)
    if reader is None:
        raise ProtocolError(f"unknown content type {kind}")
    if info & HAS_ORIGIN:
        _id(decoder, needs)
    if info & HAS_RIGHT_ORIGIN:
        _id(decoder, needs)
    if not info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN):
        parent_is_root = decoder.read_var_uint()
        if parent_is_root == 1:
            decoder.read_var_uint8_array()
        elif parent_is_root == 0:
            _id(decoder, needs)
        else:
            raise ProtocolError("bad parent info")
        if info & HAS_PARENT_SUB:
            decoder.read_var_uint8_array()
    return reader(decoder)


def _structs(decoder: Decoder, needs: Needs) -> None:
    for _ in range(_count(decoder, 3)):
        structs = _count(decoder, 2)
        client = _client(decoder)
        start = clock = _u32(decoder)
        for _ in range(structs):
            clock += _struct(decoder, needs)
        if clock > _U32:
            raise ProtocolError("clock overflows 32 bits")
        if client in needs.has:
            raise ProtocolError("a client's structs appear twice")
        needs.has[client] = (start, clock)


def _delete_set(decoder: Decoder, needs: Needs) -> None:
    for _ in range(_count(decoder, 2)):
        client = _client(decoder)
        for _ in range(_count(decoder, 2)):
            clock, length = _u32(decoder), _u32(decoder)
            if clock + length > _U32:
                raise ProtocolError("deleted range overflows 32 bits")
            if length:
                needs.refer(client, clock + length - 1)
                needs.deletes.append((client, clock, length))


def check_update(update: bytes) -> Needs:
    """Raise ``ProtocolError`` unless ``update`` is a well-formed Yjs v1 update; return what
    it needs from the document it is applied to."""
    decoder = Decoder(update)
    needs = Needs()
    _structs(decoder, needs)
    _delete_set(decoder, needs)
    if decoder.has_more:
        raise ProtocolError("trailing bytes after update")
    return needs


def read_state_vector(state_vector: bytes) -> dict[int, int]:
    """Client -> clock; raise ``ProtocolError`` unless well-formed."""
    decoder = Decoder(state_vector)
    state: dict[int, int] = {}
    for _ in range(_count(decoder, 2)):
        client = _client(decoder)
        state[client] = _u32(decoder)
    if decoder.has_more:
        raise ProtocolError("trailing bytes after state vector")
    return state


def check_state_vector(state_vector: bytes) -> None:
    """Raise ``ProtocolError`` unless ``state_vector`` is a well-formed state vector."""
    read_state_vector(state_vector)


DeleteSet = dict[int, list[tuple[int, int]]]  # client -> sorted (start, end) clock ranges


def read_delete_set(snapshot: bytes) -> DeleteSet:
    """The delete set at the front of a v1 snapshot (``Y.encodeSnapshot``: delete set, then
    state vector). Raises ``ProtocolError`` if malformed."""
    decoder = Decoder(snapshot)
    deleted: DeleteSet = {}
    for _ in range(_count(decoder, 2)):
        client = _client(decoder)
        ranges = deleted.setdefault(client, [])
        for _ in range(_count(decoder, 2)):
            clock = _u32(decoder)
            ranges.append((clock, clock + _u32(decoder)))
    for ranges in deleted.values():
        ranges.sort()
    return deleted


def contains(deleted: DeleteSet, deletes: list[tuple[int, int, int]]) -> bool:
    """Whether every (client, clock, length) range is covered by ``deleted``."""
    for client, clock, length in deletes:
        start, end = clock, clock + length
        for low, high in deleted.get(client, ()):
            if low <= start < high:
                start = high  # covered up to here; adjacent ranges may go on
            if start >= end:
                break
        if start < end:
            return False
    return True
