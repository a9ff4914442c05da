"""Invitations: an owner invites an email; the signed-in user with that email accepts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, EmailStr, Field

from server.access import RANK, Role, require_role
from server.api import Api, Call
from server.auth.tokens import hash_token, new_opaque_token
from server.errors import Forbidden, Gone, NotFound
from storage.repos import audit, invitations, projects, users

api = Api()


class InvitationIn(BaseModel):
    email: EmailStr
    role: Role = "editor"


class InvitationOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    email: str
    role: Role
    expires_at: datetime
    accepted_at: datetime | None


class InvitationCreated(InvitationOut):
    token: str = Field(description="single-use; give it to the invitee")


class AcceptedOut(BaseModel):
    project_id: uuid.UUID
    role: Role


def invitation_out(inv: invitations.Invitation) -> InvitationOut:
    return InvitationOut.model_validate(inv, from_attributes=True)


@api.op(
    "POST",
    "/api/projects/{project_id:uuid}/invitations",
    tag="invitations",
    body=InvitationIn,
    response=InvitationCreated,
    status=201,
)
async def create_invitation(call: Call) -> InvitationCreated:
    """Invite an email to a project with a role (owner only)."""
    body: InvitationIn = call.body
    project_id = call.path("project_id")
    await require_role(call.services.db, project_id, call.user_id, "owner")
    token, token_hash = new_opaque_token()
    ttl = timedelta(seconds=call.services.settings.invitation_ttl_s)
    async with call.services.db.acquire() as conn, conn.transaction():
        inv = await invitations.create_invitation(
            conn,
            project_id=project_id,
            email=body.email,
            role=body.role,
            token_hash=token_hash,
            invited_by=call.user_id,
            expires_at=datetime.now(UTC) + ttl,
        )
        await audit.record(
            conn,
            "invitation.created",
            actor=call.user_id,
            target_project=project_id,
            invitation=inv.id,
            email=inv.email,
            role=inv.role,
        )
    return InvitationCreated(**invitation_out(inv).model_dump(), token=token)


@api.op(
    "GET",
    "/api/projects/{project_id:uuid}/invitations",
    tag="invitations",
    response=list[InvitationOut],
)
async def list_invitations(call: Call) -> list[InvitationOut]:
    """A project's invitations (owner only)."""
    project_id = call.path("project_id")
    await require_role(call.services.db, project_id, call.user_id, "owner")
    return [
        invitation_out(i) for i in await invitations.list_invitations(call.services.db, project_id)
    ]


@api.op("POST", "/api/invitations/{token}/accept", tag="invitations", response=AcceptedOut)
async def accept_invitation(call: Call) -> AcceptedOut:
    """Accept an invitation addressed to your email; it can be used once."""
    db = call.services.db
    user = await users.get_user(db, call.user_id)
    async with db.acquire() as conn, conn.transaction():
        inv = await invitations.lock_invitation(conn, hash_token(call.path("token")))
        if inv is None:
            raise NotFound("no such invitation")
        if inv.accepted_at is not None:
            raise Gone("this invitation has been used")
        if inv.expires_at <= datetime.now(UTC):
            raise Gone("this invitation has expired")
        if inv.email.lower() != user.email.lower():
            raise Forbidden("this invitation is for another email address")
        current = await projects.member_role(db, inv.project_id, user.id)
        if current is None or RANK[inv.role] > RANK[current]:
            await projects.add_member(conn, inv.project_id, user.id, inv.role)
        await invitations.mark_accepted(conn, inv.id, user.id)
        await audit.record(
            conn,
            "invitation.accepted",
            actor=user.id,
            target_user=user.id,
            target_project=inv.project_id,
            invitation=inv.id,
            role=inv.role,
        )
    role = await projects.member_role(db, inv.project_id, user.id)
    return AcceptedOut(project_id=inv.project_id, role=role)  # type: ignore[arg-type]
