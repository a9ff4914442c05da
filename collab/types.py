"""The vocabulary of the real-time core: document names, origins, close codes."""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass

from collab.errors import BadDocumentName

PHASE_COUNT = 14

_NAME = re.compile(r"^projects/([0-9a-fA-F-]{36})/(?:phases/(\d{1,2})|meta)$")


class CloseCode(enum.IntEnum):
    """Websocket close codes we send; 4xxx mirror HTTP statuses."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_REQUEST = 4400
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    AUTH_TIMEOUT = 4408
    TOO_LARGE = 4413
    RATE_LIMITED = 4429


class Origin(enum.StrEnum):
    """Who made a change to a room's document."""

    PEER = "peer"
    REMOTE = "remote"
    SERVER = "server"
    AI = "ai"


@dataclass(frozen=True, slots=True)
class DocumentName:
    """`projects/{id}/phases/{n}` (phase is 1..14) or `projects/{id}/meta` (phase is None)."""

    project_id: uuid.UUID
    phase: int | None

    @classmethod
    def parse(cls, name: str) -> DocumentName:
        match = _NAME.match(name)
        if match is None:
            raise BadDocumentName(name)
        try:
            project_id = uuid.UUID(match.group(1))
        except ValueError:
            raise BadDocumentName(name) from None
        phase = match.group(2)
        if phase is None:
            return cls(project_id, None)
        number = int(phase)
        if not 1 <= number <= PHASE_COUNT:
            raise BadDocumentName(name)
        return cls(project_id, number)

    @property
    def is_meta(self) -> bool:
        return self.phase is None

    def __str__(self) -> str:
        if self.phase is None:
            return f"projects/{self.project_id}/meta"
        return f"projects/{self.project_id}/phases/{self.phase}"
