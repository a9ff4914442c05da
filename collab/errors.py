"""Errors of the real-time core. Each carries the close code that ends one connection.

CollabError
├── ProtocolError          malformed frame or unknown message (1002)
│   ├── MessageTooBig      frame over the size limit (1009)
│   └── TooManyMessages    more sub-messages in one frame than allowed (4429)
├── InvalidUpdate          a frame carried an update that does not integrate (1002)
├── RoomReset              the replica was dropped to be reloaded: reconnect (1012)
├── BadDocumentName        not a document this server knows (4404)
├── Unauthorized           missing or bad token (4401)
├── Forbidden              not a member, or a read-only document (4403)
├── AuthTimeout            no authentication in time (4408)
├── RateLimited            too many messages per second (4429)
├── TooManyDocuments       too many documents on one socket (4429)
├── DocumentTooLarge       the document would exceed its size limit (4413)
├── AwarenessTooLarge      too many awareness clients or bytes for one peer (4413)
├── SlowConsumer           outbox full: the peer cannot keep up (1013)
└── StorageUnavailable          the database is away and the journal queue is full (1013)
"""

from __future__ import annotations

MAX_DETAIL = 200  # details may quote client input (a document name): keep log lines short
MAX_CLOSE_REASON = 123  # bytes of UTF-8 a websocket close frame can carry (RFC 6455)


class CollabError(Exception):
    close_code: int = 1011
    reason: str = "internal error"

    def __init__(self, detail: str | None = None) -> None:
        text = detail or self.reason
        if len(text) > MAX_DETAIL:
            text = text[: MAX_DETAIL - 1] + "…"
        super().__init__(text)
        self.detail = text

    @property
    def close_reason(self) -> str:
        """The detail cut to what a close frame holds, on a character boundary."""
        return self.detail.encode()[:MAX_CLOSE_REASON].decode(errors="ignore")


class ProtocolError(CollabError):
    close_code = 1002
    reason = "protocol error"


class MessageTooBig(ProtocolError):
    close_code = 1009
    reason = "message too big"


class TooManyMessages(ProtocolError):
    close_code = 4429
    reason = "too many messages in one frame"


class InvalidUpdate(CollabError):
    close_code = 1002
    reason = "invalid update"


class RoomReset(CollabError):
    close_code = 1012
    reason = "document reloaded; reconnect"


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


class AwarenessTooLarge(CollabError):
    close_code = 4413
    reason = "awareness too large"


class SlowConsumer(CollabError):
    close_code = 1013
    reason = "too slow"


class StorageUnavailable(CollabError):
    """Not applied, so nothing is lost: the client keeps the edit and re-sends it with its
    state when it reconnects."""

    close_code = 1013
    reason = "the database is unavailable; try again later"
