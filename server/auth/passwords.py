"""Argon2id password hashing through passlib, and the password strength rules."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cache
from importlib import resources

from passlib.context import CryptContext

MIN_LENGTH = 10
MAX_LENGTH = 1024  # bounds the work an attacker can make Argon2 do


@cache
def _common_passwords() -> frozenset[str]:
    text = resources.files("server.auth").joinpath("common_passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def password_problems(password: str, email: str) -> list[str]:
    """Why a password is refused; empty when it is acceptable."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters")
    lowered = password.lower()
    if lowered in _common_passwords():
        problems.append("is too common")
    local = email.lower().partition("@")[0]
    if lowered == email.lower() or (len(local) >= 4 and local in lowered):
        problems.append("must not contain the email address")
    if len(set(password)) < 4:
        problems.append("has too few distinct characters")
    return problems


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    new_hash: str | None  # set when the stored hash should be replaced


class PasswordHasher:
    """Hashes in a thread: Argon2 is deliberately slow and must not block the event loop."""

    def __init__(self, *, time_cost: int, memory_kib: int) -> None:
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__time_cost=time_cost,
            argon2__memory_cost=memory_kib,
            argon2__parallelism=1,
        )
        self._dummy = self._context.hash("timing equaliser for unknown accounts")

    async def hash(self, password: str) -> str:
        result: str = await asyncio.to_thread(self._context.hash, password)
        return result

    async def verify(self, password: str, stored: str | None) -> Verdict:
        """Check a password; with `stored` None, spend the same time and fail."""
        if stored is None:
            await asyncio.to_thread(self._context.verify, password, self._dummy)
            return Verdict(False, None)
        ok, new_hash = await asyncio.to_thread(self._context.verify_and_update, password, stored)
        return Verdict(bool(ok), new_hash)
