"""The audit trail: who changed what, written in the same transaction as the change.

Every workflow that changes something calls `record(...)` inside its own transaction, so a change
that rolls back leaves no entry and a change that commits always has one. The actor comes from the
context: the dashboard's middleware sets the signed-in member and the source address for the length
of a request; anything else is the command line, named with the OS user who ran it.

Details name what changed, never a secret: `record` refuses keys that look like one.
"""

import contextvars
import getpass
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from workspaces.models import ApiKey, AuditEntry, Organization

# Every action the trail records, with how the Audit log names it.
ACTIONS = {
    "organization.created": "Organization created",
    "organization.renamed": "Organization renamed",
    "workspace.created": "Workspace created",
    "workspace.changed": "Workspace renamed or its settings changed",
    "workspace.deleted": "Workspace deleted",
    "workspace.default_permission_changed": "Default permission changed",
    "client.created": "Client created",
    "client.updated": "Client changed",
    "client.password_reset": "Client password reset",
    "client.deleted": "Client deleted",
    "session.disconnected": "Session disconnected",
    "acl.rule_created": "ACL rule created",
    "acl.rule_changed": "ACL rule changed",
    "acl.rule_moved": "ACL rule moved",
    "acl.rule_deleted": "ACL rule deleted",
    "acl.rules_imported": "ACL rules imported",
    "invitation.created": "Invitation created",
    "invitation.revoked": "Invitation revoked",
    "member.joined": "Member joined",
    "member.role_changed": "Role changed",
    "member.removed": "Member removed",
    "signin.succeeded": "Signed in",
    "signin.failed": "Sign-in failed",
    "signin.locked_out": "Sign-in locked out",
    "signin.unlocked": "Lockout cleared",
    "account.password_changed": "Password changed",
    "account.signed_out_elsewhere": "Signed out elsewhere",
    "apikey.created": "API key created",
    "apikey.revoked": "API key revoked",
}

# What the log calls each model it names.
TARGET_NAMES = {
    "mqttclient": "client",
    "aclrule": "rule",
    "user": "account",
    "livesession": "session",
    "apikey": "apikey",
}

# Keys that would carry a secret; a details mapping holding one is a programming error.
SECRET_KEYS = frozenset({"password", "password_hash", "token", "token_hash", "link", "url", "secret"})


@dataclass(frozen=True)
class Actor:
    kind: str
    label: str
    user: User | None = None
    address: str | None = None

    @classmethod
    def member(cls, user: User, address: str | None) -> "Actor":
        return cls(AuditEntry.ActorKind.MEMBER, user.email or user.get_username(), user, address)

    @classmethod
    def command_line(cls) -> "Actor":
        try:
            os_user = getpass.getuser()
        except (KeyError, OSError):
            os_user = "unknown"
        return cls(AuditEntry.ActorKind.COMMAND_LINE, f"cli:{os_user}")

    @classmethod
    def api_key(cls, key: ApiKey, address: str | None) -> "Actor":
        """A REST API request, named by its key (never the key itself: its name and prefix)."""
        return cls(AuditEntry.ActorKind.API_KEY, f"apikey:{key.name} ({key.prefix})", None, address)

    @classmethod
    def system(cls) -> "Actor":
        return cls(AuditEntry.ActorKind.SYSTEM, "system")


_current_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("audit_actor", default=None)


def current_actor() -> Actor:
    """Who is acting now: the request's member, or else whoever runs this process from a shell."""
    return _current_actor.get() or Actor.command_line()


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    token = _current_actor.set(actor)
    try:
        yield actor
    finally:
        _current_actor.reset(token)


def source_address(request: HttpRequest) -> str | None:
    """The client's address. uvicorn already replaces it with X-Forwarded-For's when behind a proxy
    (CLOUDSIGNAL_HTTPS), so a header a client sends directly is never believed."""
    return request.META.get("REMOTE_ADDR") or None


def record(
    organization: Organization | Any,
    action: str,
    target: models.Model | None = None,
    *,
    target_type: str = "",
    target_id: str = "",
    target_name: str = "",
    details: Mapping[str, Any] | None = None,
    actor: Actor | None = None,
) -> AuditEntry:
    """Write one entry. Call it inside the transaction of the change it describes."""
    if action not in ACTIONS:
        raise ValueError(f"Unknown audit action {action!r}: add it to ACTIONS.")
    details = dict(details or {})
    if leaked := SECRET_KEYS & set(details):
        raise ValueError(f"Audit details must not hold secrets: {sorted(leaked)}")
    actor = actor or current_actor()
    if target is not None:
        model_name = target._meta.model_name or ""
        target_type = target_type or TARGET_NAMES.get(model_name, model_name)
        target_name = target_name or str(target)
    with transaction.atomic():
        return AuditEntry.objects.create(
            # An Organization, or just its id (a workspace's organization_id).
            **(
                {"organization": organization}
                if isinstance(organization, Organization)
                else {"organization_id": organization}
            ),
            actor_kind=actor.kind,
            actor_user=actor.user if actor.user is not None and actor.user.pk else None,
            actor=actor.label[:254],
            source_address=actor.address,
            action=action,
            target_type=target_type,
            target_id=target_id or (str(target.pk) if target is not None and target.pk is not None else ""),
            target_name=target_name[:200],
            details=details,
        )


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{"field": [old, new]} for every field whose value differs."""
    return {key: [before.get(key), value] for key, value in after.items() if before.get(key) != value}


def retention() -> timedelta:
    return timedelta(days=settings.AUDIT_RETENTION_DAYS)


def prune(now: datetime | None = None) -> int:
    """Delete entries older than the retention setting; returns how many went."""
    cutoff = (now or timezone.now()) - retention()
    deleted, _ = AuditEntry.objects.filter(created__lt=cutoff).delete()
    return deleted


@dataclass(frozen=True)
class Page:
    entries: list[AuditEntry]  # newest first
    has_older: bool
    has_newer: bool


def page(
    organization: Organization,
    *,
    actor: str = "",
    action: str = "",
    target_type: str = "",
    target: str = "",
    before: int | None = None,
    after: int | None = None,
    size: int = 50,
) -> Page:
    """One page of the trail, newest first, paged by id (keyset): the entries just below `before`,
    just above `after`, or the newest. Used by the Audit log page and the API."""
    entries = AuditEntry.objects.in_org(organization)
    for field, value in (("actor", actor), ("action", action), ("target_type", target_type)):
        if value:
            entries = entries.filter(**{field: value})
    # A target is matched by its id or by its name. Each side is read through its own index and the
    # two merged here: as one OR query, SQLite scanned every entry of the organization (100 ms at
    # 100,000 entries) because without statistics it cannot tell that the matches are few.
    sources = [entries.filter(target_id=target), entries.filter(target_name=target)] if target else [entries]
    if after is not None:
        rows = _merged(sources, size + 1, newest_first=False, id__gt=after)
        return Page(rows[:size][::-1], has_older=True, has_newer=len(rows) > size)
    rows = _merged(sources, size + 1, newest_first=True, **({"id__lt": before} if before is not None else {}))
    return Page(rows[:size], has_older=len(rows) > size, has_newer=before is not None)


def _merged(
    sources: Sequence[models.QuerySet[AuditEntry]], count: int, *, newest_first: bool, **bound: int
) -> list[AuditEntry]:
    """The first `count` entries by id from the union of `sources`, each read `count` at most."""
    order = "-id" if newest_first else "id"
    merged = {e.pk: e for qs in sources for e in qs.filter(**bound).order_by(order)[:count]}
    return sorted(merged.values(), key=lambda e: e.pk, reverse=newest_first)[:count]
