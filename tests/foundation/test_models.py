"""The domain model's rules, enforced by the database and not only by forms."""

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, transaction

from clients import credentials
from clients.models import MqttClient
from clients.provisioning import create_client
from workspaces.models import DefaultWorkspaceError, Organization, Workspace
from workspaces.onboarding import DEFAULT_WORKSPACE_NAME

VALID = ["a", "7", "agent-001", "Agent-Research-01", "a" * 64, "x-y-z", "ab"]
INVALID = [
    "",
    "-agent",
    "agent-",
    "agent@acme",
    "agent_01",
    "agent.01",
    "agent 01",
    "a" * 65,
    "ägent",
    "a\x00b",
]


@pytest.mark.parametrize("username", VALID)
def test_valid_usernames_are_accepted(org: Organization, username: str) -> None:
    """Letters, digits and hyphens, 1 to 64 characters, starting and ending with a letter or digit."""
    client, _ = create_client(organization=org, username=username)
    assert client.full_username == f"{username}@{org.pk}"


@pytest.mark.parametrize("username", INVALID)
def test_invalid_usernames_are_refused_and_nothing_is_written(org: Organization, username: str) -> None:
    """A bad username is refused with a message on the username field, and no row is written."""
    with pytest.raises(ValidationError) as excinfo:
        create_client(organization=org, username=username)
    assert "username" in excinfo.value.message_dict
    assert not MqttClient.objects.exists()


@pytest.mark.parametrize("username", ["agent@acme", "-agent", "a" * 64 + "b"])
def test_database_refuses_bad_usernames_even_without_the_form(org: Organization, username: str) -> None:
    """The format is a database constraint: bypassing validation still cannot store a bad name."""
    # PostgreSQL refuses an over-long value as a DataError before it checks constraints.
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        MqttClient.objects.create(organization=org, workspace=org.default_workspace, username=username)


def test_usernames_are_unique_per_organization_regardless_of_case(org: Organization) -> None:
    """`Agent-001` clashes with `agent-001` in the same organization, with a clear message."""
    create_client(organization=org, username="agent-001")
    with pytest.raises(ValidationError) as excinfo:
        create_client(organization=org, username="AGENT-001")
    assert "already exists" in str(excinfo.value.message_dict["username"])
    assert MqttClient.objects.count() == 1


def test_case_insensitive_uniqueness_is_a_database_constraint(org: Organization) -> None:
    """Two writers racing past the form check still cannot both store the name."""
    create_client(organization=org, username="agent-001")
    with pytest.raises(IntegrityError), transaction.atomic():
        MqttClient.objects.create(organization=org, workspace=org.default_workspace, username="Agent-001")


def test_two_organizations_may_both_have_the_same_username(
    org: Organization, other_org: Organization
) -> None:
    a, _ = create_client(organization=org, username="agent-001")
    b, _ = create_client(organization=other_org, username="agent-001")
    assert a.full_username != b.full_username
    assert MqttClient.objects.by_username(org.pk, "AGENT-001").get() == a
    assert MqttClient.objects.by_username(other_org.pk, "agent-001").get() == b


def test_organization_is_made_with_exactly_one_default_workspace(org: Organization) -> None:
    defaults = Workspace.objects.filter(organization=org, is_default=True)
    assert [w.name for w in defaults] == [DEFAULT_WORKSPACE_NAME]


def test_a_second_default_workspace_is_refused_by_the_database(org: Organization) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Workspace.objects.create(organization=org, name="Other", is_default=True)


def test_the_default_workspace_cannot_be_deleted(org: Organization) -> None:
    with pytest.raises(DefaultWorkspaceError):
        org.default_workspace.delete()
    assert org.workspaces.filter(is_default=True).exists()


def test_workspace_names_are_unique_in_an_organization_regardless_of_case(org: Organization) -> None:
    Workspace.objects.create(organization=org, name="Production")
    with pytest.raises(IntegrityError), transaction.atomic():
        Workspace.objects.create(organization=org, name="production")


def test_client_workspace_must_belong_to_its_organization(org: Organization, other_org: Organization) -> None:
    with pytest.raises(ValidationError) as excinfo:
        create_client(organization=org, username="agent-1", workspace=other_org.default_workspace)
    assert "workspace" in excinfo.value.message_dict


def test_no_plaintext_password_anywhere_in_the_database(org: Organization) -> None:
    """After creating clients (generated and own passwords) and a reset, no table holds a plaintext."""
    from clients.provisioning import reset_password

    secrets_made = []
    for name in ("agent-1", "agent-2"):
        _, password = create_client(organization=org, username=name)
        secrets_made.append(password)
    client, own = create_client(organization=org, username="agent-3", password="my-own-password-42")
    secrets_made.append(own)
    new_password, _ = reset_password(client)
    secrets_made.append(new_password)

    dump = _dump_database()
    for secret in secrets_made:
        assert secret not in dump
    assert dump.count("$argon2id$") >= 3


def _dump_database() -> str:
    """Every value of every table, as text."""
    parts: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            parts.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(parts)


def test_password_hash_is_argon2id_with_at_least_owasp_parameters(org: Organization) -> None:
    client, password = create_client(organization=org, username="agent-1")
    assert client.password_hash.startswith("$argon2id$")
    params = dict(p.split("=") for p in client.password_hash.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2 and int(params["p"]) >= 1
    assert client.check_password(password)
    assert not client.check_password(password + "x")


def test_weaker_hash_parameters_are_flagged_for_rehash() -> None:
    """Parameters live in the hash, so raising them later re-hashes old credentials on login."""
    from argon2 import PasswordHasher

    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("password-1234")
    assert credentials.needs_rehash(old)
    assert not credentials.needs_rehash(credentials.hash_password("password-1234"))


@pytest.mark.parametrize(
    ("verb", "kwargs"),
    [
        ("disable", {}),
        ("set_password", {"password": "another-password-42"}),
        ("update", {"username": "agent-2"}),
    ],
)
def test_revoking_changes_bump_the_credential_version(
    org: Organization, verb: str, kwargs: dict[str, str]
) -> None:
    client, _ = create_client(organization=org, username="agent-1")
    before = client.credential_version
    getattr(client, verb)(**kwargs)
    assert MqttClient.objects.get(pk=client.pk).credential_version == before + 1


def test_moving_workspace_bumps_the_version_but_a_description_edit_does_not(org: Organization) -> None:
    client, _ = create_client(organization=org, username="agent-1")
    staging = Workspace.objects.create(organization=org, name="staging")
    client.update(description="rack 4")
    assert MqttClient.objects.get(pk=client.pk).credential_version == 1
    client.update(workspace=staging)
    assert MqttClient.objects.get(pk=client.pk).credential_version == 2


def test_generated_passwords_are_long_url_safe_and_distinct() -> None:
    made = {credentials.generate_password() for _ in range(50)}
    assert len(made) == 50
    for password in made:
        assert len(password) >= 24
        assert all(c.isascii() and (c.isalnum() or c in "-_") for c in password)


@pytest.mark.parametrize(
    "password", ["short", "aaaaaaaaaaaaaaaa", " padded-password-1 ", "pässwörd-long-enough"]
)
def test_weak_own_passwords_are_refused(org: Organization, password: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        create_client(organization=org, username="agent-1", password=password)
    assert "password" in excinfo.value.message_dict
    assert not MqttClient.objects.exists()


def test_update_checks_a_new_username_like_creation(org: Organization) -> None:
    """Renaming through update() (the Edit form, the command line) refuses a clash and writes nothing."""
    create_client(organization=org, username="agent-1")
    client, _ = create_client(organization=org, username="agent-2")
    with pytest.raises(ValidationError) as excinfo:
        client.update(username="AGENT-1", description="renamed")
    assert "username" in excinfo.value.message_dict
    assert (client.username, client.description) == ("agent-2", "")
    stored = MqttClient.objects.get(pk=client.pk)
    assert (stored.username, stored.description, stored.credential_version) == ("agent-2", "", 1)
