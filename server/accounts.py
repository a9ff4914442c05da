"""Deleting an account: shared by self-service (DELETE /api/account) and the admin API."""

from __future__ import annotations

import uuid

from server.errors import Conflict, Invalid, NotFound
from server.services import Services
from storage.errors import NotFound as StorageNotFound
from storage.repos import admin, audit, projects, users
from storage.sql import Conn


async def delete_account(
    services: Services,
    user_id: uuid.UUID,
    *,
    actor: uuid.UUID | None,
    transfer_to: uuid.UUID | None = None,
) -> None:
    """Delete `user_id` in one transaction; a project it alone owns goes to `transfer_to`.

    Raises NotFound (no such user or transfer target), Invalid (transfer to itself) or
    Conflict, whose details list the sole-owned projects, when `transfer_to` is None.
    """
    if transfer_to == user_id:
        raise Invalid("an account cannot transfer its projects to itself")
    async with services.db.acquire() as conn, conn.transaction():
        try:
            user, other_admins = await admin.lock_with_admins(conn, user_id)
        except StorageNotFound:
            raise NotFound("no such user") from None
        if user.role == "admin" and user.disabled_at is None and not other_admins:
            raise Conflict("the last enabled admin account cannot be deleted")
        owned = await users.sole_owned_projects(conn, user_id)
        if owned and transfer_to is None:
            raise Conflict(
                "the account is the last owner of projects: transfer them first",
                details=[{"id": str(p.id), "name": p.name} for p in owned],
            )
        if owned and transfer_to is not None:
            await _transfer(conn, owned, user_id, transfer_to, actor)
        await users.delete_user(conn, user_id)
        await audit.record(
            conn,
            "account.deleted",
            actor=actor,
            target_user=user_id,
            email=user.email,
            transferred_to=transfer_to if owned else None,
            projects=[str(p.id) for p in owned],
        )
    if services.rooms is not None:
        services.rooms.account_closed(user_id)
        if transfer_to is not None:  # a viewer who became owner may now write
            for project in owned:
                services.rooms.membership_changed(project.id, transfer_to, "owner")


async def _transfer(
    conn: Conn,
    owned: list[users.OwnedProject],
    user_id: uuid.UUID,
    transfer_to: uuid.UUID,
    actor: uuid.UUID | None,
) -> None:
    # A disabled account cannot act on what it would receive: it is no target. Kept as it
    # is (not disabled, not deleted) until the transfer commits.
    target = await users.share_user(conn, transfer_to)
    if target is None or target.disabled_at is not None:
        raise NotFound("the account to transfer projects to does not exist or is disabled")
    for project in owned:
        await projects.add_member(conn, project.id, transfer_to, "owner")
        await audit.record(
            conn,
            "project.ownership_transferred",
            actor=actor,
            target_user=transfer_to,
            target_project=project.id,
            previous_owner=user_id,
            project_name=project.name,
        )
