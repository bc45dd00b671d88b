"""Helpers for the team tests: a signed-in test client for any user, and invitations made the way
the Members page makes them."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from workspaces import invitations
from workspaces.models import Invitation, Membership, Organization


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user, backend="workspaces.backends.EmailBackend")
    return client


@pytest.fixture
def owner_membership(owner: User, org: Organization) -> Membership:
    return Membership.objects.get(user=owner, organization=org)


@pytest.fixture
def invite(org: Organization, owner_membership: Membership) -> Callable[..., tuple[Invitation, str]]:
    """invite(email, role) -> (invitation, the path of its link)."""

    def make(email: str, role: str = Membership.Role.VIEWER) -> tuple[Invitation, str]:
        invitation, token = invitations.invite(organization=org, email=email, role=role, by=owner_membership)
        return invitation, invitations.link_path(token)

    return make
