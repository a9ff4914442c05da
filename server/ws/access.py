"""Who may open which document: the shared check of both websocket endpoints."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from collab.errors import Forbidden, StorageUnavailable, Unauthorized
from collab.types import DocumentName
from server.auth.tokens import InvalidToken, Principal
from server.services import Services
from storage.errors import UNREACHABLE
from storage.repos import projects


@dataclass(frozen=True, slots=True)
class Grant:
    name: DocumentName
    principal: Principal
    role: str

    @property
    def read_only(self) -> bool:
        return self.role == "viewer" or self.name.is_meta


def principal_of(services: Services, token: str | None) -> Principal:
    if not token:
        raise Unauthorized("a token is required")
    try:
        return services.access_tokens.verify(token)
    except InvalidToken:
        raise Unauthorized("invalid or expired token") from None


async def grant(services: Services, name: str, principal: Principal) -> Grant:
    document = DocumentName.parse(name)
    role = await projects.member_role(services.db, document.project_id, principal.user_id)
    if role is None:
        raise Forbidden("not a member of this project")
    return Grant(document, principal, role)


@contextlib.contextmanager
def database_required() -> Iterator[None]:
    """The database away (an outage) closes with 1013: the client keeps its edits and
    reconnects later, instead of seeing an internal error."""
    try:
        yield
    except UNREACHABLE as exc:
        raise StorageUnavailable() from exc
