"""lib0's variable-length encoding, the byte layer under y-protocols and Hocuspocus.

- varUint: unsigned LEB128, 7 bits per byte, least significant group first, high bit set on
  every byte but the last. lib0 numbers are JavaScript doubles, so values above
  2**53 - 1 (``Number.MAX_SAFE_INTEGER``) are rejected, as is any encoding longer than
  8 bytes (8 x 7 = 56 bits already covers every safe integer).
- varUint8Array: varUint byte length, then the bytes.
- varString: a varUint8Array holding UTF-8. Decoding is strict: invalid UTF-8 is a
  ``ProtocolError`` (lib0 would substitute U+FFFD; no conforming client sends it).

Every decoding failure raises :class:`collab.errors.ProtocolError` and nothing else.
"""

from __future__ import annotations

from collab.errors import ProtocolError

MAX_SAFE_INTEGER = 2**53 - 1
_MAX_VAR_UINT_BYTES = 8


class Encoder:
    """Appends lib0-encoded values to a growing buffer."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def write_var_uint(self, value: int) -> None:
        if not 0 <= value <= MAX_SAFE_INTEGER:
            raise ValueError(f"varUint out of range: {value}")
        buf = self._buf
        while value > 0x7F:
            buf.append(0x80 | (value & 0x7F))
            value >>= 7
        buf.append(value)

    def write_var_uint8_array(self, data: bytes) -> None:
        self.write_var_uint(len(data))
        self._buf += data

    def write_var_string(self, text: str) -> None:
        self.write_var_uint8_array(text.encode("utf-8"))

    def to_bytes(self) -> bytes:
        return bytes(self._buf)

    def __len__(self) -> int:
        return len(self._buf)


class Decoder:
    """Reads lib0-encoded values from ``data``, front to back."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        """Number of bytes not read yet."""
        return len(self._data) - self._pos

    @property
    def has_more(self) -> bool:
        return self._pos < len(self._data)

    @property
    def done(self) -> bool:
        return self._pos >= len(self._data)

    def read_var_uint(self) -> int:
        data = self._data
        pos = self._pos
        end = min(len(data), pos + _MAX_VAR_UINT_BYTES)
        result = 0
        shift = 0
        while pos < end:
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                if result > MAX_SAFE_INTEGER:
                    raise ProtocolError("varUint exceeds 2**53 - 1")
                self._pos = pos
                return result
            shift += 7
        if pos < len(data):
            raise ProtocolError("varUint longer than 8 bytes")
        raise ProtocolError("truncated varUint")

    def read_u8(self) -> int:
        if self._pos >= len(self._data):
            raise ProtocolError("truncated byte")
        byte = self._data[self._pos]
        self._pos += 1
        return byte

    def skip(self, count: int) -> None:
        if self._pos + count > len(self._data):
            raise ProtocolError("truncated data")
        self._pos += count

    def read_var_int(self) -> int:
        """lib0 varInt: sign in bit 6 of the first byte, 6 bits there, then 7 bits a byte."""
        first = self.read_u8()
        result = first & 0x3F
        shift = 6
        byte = first
        while byte & 0x80:
            if shift > 63:
                raise ProtocolError("varInt longer than 10 bytes")
            byte = self.read_u8()
            result |= (byte & 0x7F) << shift
            shift += 7
        return -result if first & 0x40 else result

    def read_var_uint8_array(self) -> bytes:
        length = self.read_var_uint()
        start = self._pos
        end = start + length
        if end > len(self._data):
            raise ProtocolError("truncated byte array")
        self._pos = end
        return self._data[start:end]

    def read_var_string(self) -> str:
        raw = self.read_var_uint8_array()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("string is not valid UTF-8") from None
