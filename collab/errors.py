"""Errors of the real-time core. Each carries the close code that ends one connection.

CollabError
├── ProtocolError          malformed frame or unknown message (1002)
│   └── MessageTooBig      frame over the size limit (1009)
├── InvalidUpdate          a frame carried an update pycrdt rejects (1002)
├── BadDocumentName        not a document this server knows (4404)
├── Unauthorized           missing or bad token (4401)
├── Forbidden              not a member, or a read-only document (4403)
├── AuthTimeout            no authentication in time (4408)
├── RateLimited            too many messages per second (4429)
├── TooManyDocuments       too many documents on one socket (4429)
├── DocumentTooLarge       the document would exceed its size limit (4413)
└── SlowConsumer           outbox full: the peer cannot keep up (1013)
"""

from __future__ import annotations


class CollabError(Exception):
    close_code: int = 1011
    reason: str = "internal error"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.reason)
        self.detail = detail or self.reason


class ProtocolError(CollabError):
    close_code = 1002
    reason = "protocol error"


class MessageTooBig(ProtocolError):
    close_code = 1009
    reason = "message too big"


class InvalidUpdate(CollabError):
    close_code = 1002
    reason = "invalid update"


class BadDocumentName(CollabError):
    close_code = 4404
    reason = "unknown document"


class Unauthorized(CollabError):
    close_code = 4401
    reason = "unauthorized"


class Forbidden(CollabError):
    close_code = 4403
    reason = "forbidden"


class AuthTimeout(CollabError):
    close_code = 4408
    reason = "authentication timeout"


class RateLimited(CollabError):
    close_code = 4429
    reason = "rate limited"


class TooManyDocuments(CollabError):
    close_code = 4429
    reason = "too many documents on one socket"


class DocumentTooLarge(CollabError):
    close_code = 4413
    reason = "document too large"


class SlowConsumer(CollabError):
    close_code = 1013
    reason = "too slow"
