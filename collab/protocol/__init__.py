"""Sans-I/O codecs for the two websocket protocols: pure functions over bytes.

    lib0        varUint / varString primitives (lib0 encoding.js, decoding.js)
    ywire       y-websocket: sync step 1/2, update, awareness, query-awareness, auth
    hocuspocus  Hocuspocus v4: the same, addressed per document, plus auth/stateless/status
    awareness   awareness update entries and the per-room registry of client states

Decoders raise ``collab.errors.ProtocolError`` (``MessageTooBig`` over the size limit) and
never anything else.
"""

from collab.protocol import awareness, hocuspocus, lib0, ywire

__all__ = ["awareness", "hocuspocus", "lib0", "ywire"]
