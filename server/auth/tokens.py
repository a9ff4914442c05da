"""JWT access tokens (one pinned algorithm) and opaque refresh tokens stored as hashes."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt


class InvalidToken(Exception):
    """A token that is missing, malformed, expired, tampered or of the wrong type."""


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: uuid.UUID
    role: str
    jti: str


class AccessTokens:
    def __init__(self, secret: str, algorithm: str, ttl_s: int) -> None:
        self._secret = secret
        self._algorithm = algorithm
        self.ttl_s = ttl_s

    def issue(self, user_id: uuid.UUID, role: str) -> str:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "role": role,
            "type": "access",
            "iat": now,
            "exp": now + self.ttl_s,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=self._algorithm)

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self._algorithm],
                options={"require": ["exp", "iat", "jti", "sub", "type"]},
            )
            if claims["type"] != "access":
                raise InvalidToken("not an access token")
            return Principal(
                uuid.UUID(claims["sub"]), str(claims.get("role", "user")), claims["jti"]
            )
        except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
            raise InvalidToken(str(exc)) from None


def new_opaque_token() -> tuple[str, bytes]:
    """A random token for the client and the hash we store."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> bytes:
    # Tokens carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).digest()
