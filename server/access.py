"""Project access: non-members see 404, members without the role 403."""

from __future__ import annotations

import uuid
from typing import Literal

import asyncpg

from server.auth.tokens import Principal
from server.errors import Forbidden, NotFound
from storage.repos import projects

Role = Literal["owner", "editor", "viewer"]
RANK = {"viewer": 0, "editor": 1, "owner": 2}


async def require_role(
    db: asyncpg.Pool, project_id: uuid.UUID, user_id: uuid.UUID, minimum: Role
) -> Role:
    role = await projects.member_role(db, project_id, user_id)
    if role is None:
        raise NotFound("project not found")
    if RANK[role] < RANK[minimum]:
        raise Forbidden(f"this needs the {minimum} role; you are {role}")
    return role  # type: ignore[return-value]


def require_admin(principal: Principal | None) -> uuid.UUID:
    """The caller's id; 403 unless the account is an admin now (authenticate read the role
    from the database, not from the token)."""
    if principal is None or principal.role != "admin":
        raise Forbidden("this needs an admin account")
    return principal.user_id
