"""Invitations: a link shown once that lets one person join an organization with a given role.

Only the SHA-256 of the token is stored, so the database (or a backup of it) never holds a usable
link. An invitation works once, expires (settings.INVITATION_DAYS), and can be revoked.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from workspaces import audit, members
from workspaces.models import Invitation, Membership, Organization
from workspaces.onboarding import normalise_email


class InvitationUnusable(Exception):
    """The link is unknown, expired, revoked or already used."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_path(token: str) -> str:
    return reverse("invitation", kwargs={"token": token})


@transaction.atomic
def invite(
    *, organization: Organization, email: str, role: str, by: Membership | None = None
) -> tuple[Invitation, str]:
    """A new invitation and its token, which the caller shows once (as a link) and forgets."""
    if not members.may_grant(by, role):
        raise PermissionDenied("Admins invite admins and viewers; only owners invite owners.")
    email = normalise_email(email)
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise ValidationError({"email": f"{email} is already a member."})
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        token_hash=token_hash(token),
        invited_by=by.user if by is not None else None,
        expires=timezone.now() + timedelta(days=settings.INVITATION_DAYS),
    )
    audit.record(
        organization,
        "invitation.created",
        invitation,
        target_name=email,
        details={"email": email, "role": role, "expires": invitation.expires.isoformat()},
    )
    return invitation, token


def send(invitation: Invitation, link: str) -> bool:
    """Mail the link when a mail server is configured; the link is shown once either way."""
    if not settings.MAIL_HOST:
        return False
    send_mail(
        f"Join {invitation.organization.name} on CloudSignal",
        f"You are invited to {invitation.organization.name} as {invitation.get_role_display()}.\n\n"
        f"Open this link to join (it works once and expires {invitation.expires:%Y-%m-%d}):\n{link}\n",
        None,
        [invitation.email],
    )
    return True


def find(token: str) -> Invitation:
    """The usable invitation for this token, or InvitationUnusable."""
    invitation = (
        Invitation.objects.select_related("organization").filter(token_hash=token_hash(token)).first()
    )
    if invitation is None or invitation.state != "pending":
        raise InvitationUnusable("This invitation link is not valid: it was used, revoked or has expired.")
    return invitation


@transaction.atomic
def accept(token: str, user: User) -> Membership:
    """`user` joins with the invitation's role; the invitation is spent. Works once, even if two
    people open the link at the same moment."""
    invitation = find(token)
    # Locked, then checked again: of two concurrent accepts only one sees it pending.
    invitation = Invitation.objects.select_for_update().select_related("organization").get(pk=invitation.pk)
    if invitation.state != "pending":
        raise InvitationUnusable("This invitation link is not valid: it was used, revoked or has expired.")
    if normalise_email(user.email) != invitation.email:
        raise InvitationUnusable(f"This invitation is for {invitation.email}.")
    try:
        with transaction.atomic():
            membership = Membership.objects.create(
                user=user, organization=invitation.organization, role=invitation.role
            )
    except IntegrityError:
        raise InvitationUnusable(f"You are already a member of {invitation.organization}.") from None
    invitation.accepted = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted", "accepted_by"])
    with audit.acting_as(audit.Actor.member(user, audit.current_actor().address)):
        audit.record(
            invitation.organization,
            "member.joined",
            user,
            target_type="member",
            target_name=user.email,
            details={"role": invitation.role, "invitation": invitation.pk},
        )
    return membership


@transaction.atomic
def revoke(invitation: Invitation, *, by: Membership | None = None) -> None:
    if not members.may_grant(by, invitation.role):
        raise PermissionDenied("Only owners revoke an invitation to become owner.")
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.state != "pending":
        return
    invitation.revoked = timezone.now()
    invitation.save(update_fields=["revoked"])
    audit.record(
        invitation.organization,
        "invitation.revoked",
        invitation,
        target_name=invitation.email,
        details={"email": invitation.email, "role": invitation.role},
    )
