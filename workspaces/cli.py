"""What the management commands look up from what a user typed, and how they report a refused form.

Every failure is a CommandError that says what to type instead; the commands of every app use these.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from workspaces.models import Organization, Workspace


def organization_by_id(org_id: str) -> Organization:
    """The organization with this Organization ID."""
    try:
        return Organization.objects.get(pk=org_id.strip())
    except (Organization.DoesNotExist, ValidationError, ValueError):
        raise CommandError(
            f"No organization with ID {org_id}. List them with: manage.py organizations list"
        ) from None


def workspace_by_name(organization: Organization, name: str) -> Workspace:
    """The organization's workspace of this name, whatever its case."""
    try:
        return Workspace.objects.in_org(organization).get(name__iexact=name.strip())
    except Workspace.DoesNotExist:
        names = ", ".join(Workspace.objects.in_org(organization).values_list("name", flat=True))
        raise CommandError(f"No workspace named {name!r} in {organization.name} (it has: {names}).") from None


def form_errors(form: Any) -> str:
    """A refused form's errors on one line, in the dashboard's words."""
    return " ".join(str(error) for errors in form.errors.values() for error in errors)
