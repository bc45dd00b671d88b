"""Members of an organization: changing roles and removing people, with the rules that keep an
organization from losing its last owner. The dashboard and the command line both come through here."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from workspaces import audit, signins
from workspaces.models import Membership

Role = Membership.Role


class LastOwnerError(ValidationError):
    """Raised when a change would leave an organization without an owner."""


def may_grant(granter: Membership | None, role: str) -> bool:
    """Owners grant any role; admins grant admin and viewer. None is the command line: any role."""
    if granter is None:
        return True
    if granter.is_owner:
        return True
    return granter.role == Role.ADMIN and role in (Role.ADMIN, Role.VIEWER)


def _ensure_another_owner(membership: Membership) -> None:
    # Lock every owner row of the organization, so two owners demoting each other at the same time
    # cannot both succeed.
    owners = list(
        Membership.objects.select_for_update()
        .filter(organization_id=membership.organization_id, role=Role.OWNER)
        .values_list("pk", flat=True)
    )
    if membership.pk in owners and len(owners) == 1:
        raise LastOwnerError("An organization needs an owner: make someone else owner first.")


@transaction.atomic
def change_role(membership: Membership, role: str, *, by: Membership | None = None) -> Membership:
    """Give `membership` a new role. Only owners (or the command line) change roles."""
    if role not in Role.values:
        raise ValidationError(f"Role must be one of {', '.join(Role.values)}.")
    if by is not None and not by.is_owner:
        raise PermissionDenied("Only owners change roles.")
    membership = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
    old = membership.role
    if old == role:
        return membership
    if old == Role.OWNER:
        _ensure_another_owner(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    audit.record(
        membership.organization,
        "member.role_changed",
        membership.user,
        target_type="member",
        target_name=membership.user.email,
        details={"role": [old, role]},
    )
    return membership


@transaction.atomic
def remove(membership: Membership, *, by: Membership | None = None) -> int:
    """Remove a member; their dashboard sessions in the organization end at once. Returns how many."""
    if by is not None and not by.is_owner:
        raise PermissionDenied("Only owners remove members.")
    membership = (
        Membership.objects.select_for_update().select_related("user", "organization").get(pk=membership.pk)
    )
    if membership.role == Role.OWNER:
        _ensure_another_owner(membership)
    user, organization = membership.user, membership.organization
    membership.delete()
    ended = signins.end_sessions(user, organization=organization)
    audit.record(
        organization,
        "member.removed",
        user,
        target_type="member",
        target_name=user.email,
        details={"role": membership.role, "sessions_ended": ended},
    )
    return ended
