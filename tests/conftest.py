"""Three personas: an owner of organization A, a viewer in A, and an outsider who owns B.

They have no passwords (tests sign in with force_login): hashing one with Django's argon2 settings
per persona per test would cost more than most tests. Signing in with a password is tested on its own.
"""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from clients.models import MqttClient
from clients.provisioning import create_client
from workspaces.models import Membership, Organization
from workspaces.onboarding import create_organization, find_or_create_user

# Fixtures more than one directory uses: a real broker and its devices, the listener for the
# dashboard's hints to the broker, a browser on a live server, and every log line.
pytest_plugins = [
    "tests.support.broker_fixtures",
    "tests.support.hint_fixtures",
    "tests.support.browser_fixtures",
    "tests.support.log_capture",
]


@pytest.fixture
def owner(db: None) -> User:
    return find_or_create_user("owner@a.example")


@pytest.fixture
def org(owner: User) -> Organization:
    return create_organization(owner=owner, name="Organization A")


@pytest.fixture
def viewer(org: Organization) -> User:
    user = find_or_create_user("viewer@a.example")
    Membership.objects.create(user=user, organization=org, role=Membership.Role.VIEWER)
    return user


@pytest.fixture
def admin_user(org: Organization) -> User:
    user = find_or_create_user("admin@a.example")
    Membership.objects.create(user=user, organization=org, role=Membership.Role.ADMIN)
    return user


@pytest.fixture
def outsider(db: None) -> User:
    return find_or_create_user("outsider@b.example")


@pytest.fixture
def other_org(outsider: User) -> Organization:
    return create_organization(owner=outsider, name="Organization B")


def _signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user, backend="workspaces.backends.EmailBackend")
    return client


@pytest.fixture
def owner_client(owner: User, org: Organization) -> Client:
    return _signed_in(owner)


@pytest.fixture
def viewer_client(viewer: User) -> Client:
    return _signed_in(viewer)


@pytest.fixture
def admin_client(admin_user: User) -> Client:
    return _signed_in(admin_user)


@pytest.fixture
def outsider_client(outsider: User, other_org: Organization) -> Client:
    return _signed_in(outsider)


@pytest.fixture
def make_client(owner: User) -> Callable[..., tuple[MqttClient, str]]:
    """Create an MQTT client the way the dashboard does; returns it with its one-time password."""

    def make(organization: Organization, username: str, **kwargs: object) -> tuple[MqttClient, str]:
        return create_client(organization=organization, username=username, created_by=owner, **kwargs)  # type: ignore[arg-type]

    return make
