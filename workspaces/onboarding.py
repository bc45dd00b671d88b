"""Making organizations: the first-run setup, the command line and tests all come through here."""

from django.contrib.auth.models import User
from django.db import transaction

from workspaces.models import Membership, Organization, Workspace

DEFAULT_WORKSPACE_NAME = "Default"


@transaction.atomic
def create_organization(*, owner: User, name: str) -> Organization:
    """An organization with its default workspace, and `owner` as its owner."""
    organization = Organization.objects.create(name=name.strip())
    Workspace.objects.create(organization=organization, name=DEFAULT_WORKSPACE_NAME, is_default=True)
    Membership.objects.create(user=owner, organization=organization, role=Membership.Role.OWNER)
    return organization


def find_or_create_user(email: str, password: str | None = None) -> User:
    """Users sign in with their email; the Django username is the normalised email."""
    email = email.strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(username=email, email=email, password=password)
        if password is None:
            user.set_unusable_password()
            user.save(update_fields=["password"])
    return user


@transaction.atomic
def set_up_first_owner(*, organization_name: str, email: str, password: str) -> Organization:
    """The first-run setup: the first user and the first organization, together or not at all."""
    owner = find_or_create_user(email, password)
    return create_organization(owner=owner, name=organization_name)
