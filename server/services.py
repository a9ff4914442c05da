"""The resources a request handler may use, opened once by the lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg

from server.auth.passwords import PasswordHasher
from server.auth.ratelimit import RateLimiter
from server.auth.tokens import AccessTokens, InvalidToken, Principal
from server.errors import Unauthorized
from server.metrics import Metrics
from server.settings import Settings

if TYPE_CHECKING:
    from collab.manager import RoomManager
    from server.assistant import Assistant
    from server.tasks.runtime import Tasks


@dataclass(slots=True)
class Services:
    settings: Settings
    db: asyncpg.Pool
    hasher: PasswordHasher
    access_tokens: AccessTokens
    login_limiter: RateLimiter
    login_ip_limiter: RateLimiter
    register_limiter: RateLimiter
    metrics: Metrics
    rooms: RoomManager | None = None
    tasks: Tasks | None = None
    assistant: Assistant | None = None

    def verify_access_token(self, token: str) -> Principal:
        try:
            return self.access_tokens.verify(token)
        except InvalidToken:
            raise Unauthorized(
                "the access token is invalid or expired", headers={"WWW-Authenticate": "Bearer"}
            ) from None
