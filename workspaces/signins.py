"""Dashboard sign-ins (Django sessions): ending them when a member leaves or asks to.

Sessions live in the database, keyed by a random id, with the user id inside the signed payload; a
small team has few, so we read them all rather than keep a second index that could drift.
"""

from typing import Any

from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from workspaces import audit
from workspaces.backends import signin_email
from workspaces.middleware import SESSION_ORGANIZATION_KEY
from workspaces.models import AuditEntry, Membership, Organization


def end_sessions(user: User, *, keep: str | None = None, organization: Organization | None = None) -> int:
    """Delete `user`'s dashboard sessions (all, or those working in `organization`), except `keep`.

    Returns how many ended. A session that has not chosen an organization counts as working in any.
    """
    ended = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).exclude(session_key=keep):
        data = session.get_decoded()
        if data.get(SESSION_KEY) != str(user.pk):
            continue
        chosen = data.get(SESSION_ORGANIZATION_KEY)
        if organization is None or chosen in (None, str(organization.pk)):
            ended.append(session.session_key)
    Session.objects.filter(session_key__in=ended).delete()
    return len(ended)


# The audit trail's sign-in entries, one in each organization the account belongs to. Connected in
# WorkspacesConfig.ready(); Django and django-axes send these from inside authenticate() and login().


def _organizations_of(user: User | None) -> list[Organization]:
    if user is None:
        return []
    return [m.organization for m in Membership.objects.for_user(user)]


def _account(email: str | None) -> User | None:
    if not email:
        return None
    return User.objects.filter(email__iexact=email.strip()).order_by("pk").first()


def on_signed_in(sender: object, request: HttpRequest | None, user: User, **kwargs: object) -> None:
    actor = audit.Actor.member(user, audit.source_address(request) if request is not None else None)
    with transaction.atomic():
        for organization in _organizations_of(user):
            audit.record(organization, "signin.succeeded", user, target_type="account", actor=actor)


def on_signin_failed(
    sender: object, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: object
) -> None:
    if request is not None and getattr(request, "axes_locked_out", False):
        return  # the lockout entry says it
    email = signin_email(None, credentials)
    address = audit.source_address(request) if request is not None else None
    account = _account(email)
    actor = audit.Actor(AuditEntry.ActorKind.MEMBER, "anonymous", None, address)
    with transaction.atomic():
        for organization in _organizations_of(account):
            audit.record(
                organization, "signin.failed", account, target_type="account", target_name=email, actor=actor
            )


def on_locked_out(
    sender: object,
    request: HttpRequest | None,
    username: str | None,
    ip_address: str | None,
    **kwargs: object,
) -> None:
    account = _account(username)
    actor = audit.Actor(AuditEntry.ActorKind.MEMBER, "anonymous", None, ip_address)
    with transaction.atomic():
        for organization in _organizations_of(account):
            audit.record(
                organization,
                "signin.locked_out",
                account,
                target_type="account",
                target_name=username or "",
                details={"source_address": ip_address},
                actor=actor,
            )
