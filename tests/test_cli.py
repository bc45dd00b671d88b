"""The command line provisions exactly as the dashboard does; errors go to stderr and change nothing."""

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError

from clients.models import LiveSession, MqttClient
from tests.support.waiting import wait_for
from workspaces.models import Membership, Organization, Workspace


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def run_json(*args: str) -> Any:
    return json.loads(run(*args, "--json"))


def test_organizations_create_makes_the_owner_and_default_workspace(db: None) -> None:
    made = run_json("organizations", "create", "Acme Robotics", "--owner", "Ops@Acme.example")
    organization = Organization.objects.get(pk=made["id"])
    assert organization.name == "Acme Robotics"
    assert organization.default_workspace.name == "Default"
    membership = Membership.objects.get(organization=organization)
    assert membership.is_owner and membership.user.email == "ops@acme.example"
    assert made["owner"] == "ops@acme.example"
    assert {"id": made["id"], "name": "Acme Robotics"} in run_json("organizations", "list")


def test_organizations_create_refuses_a_bad_email(db: None) -> None:
    with pytest.raises(CommandError, match="not an email address"):
        run("organizations", "create", "Acme", "--owner", "nobody")
    assert not Organization.objects.exists()


def test_workspaces_create_and_list(org: Organization) -> None:
    made = run_json("workspaces", "create", "production", "--org", str(org.pk))
    assert made["name"] == "production" and not made["is_default"]
    listed = run_json("workspaces", "list", "--org", str(org.pk))
    assert [(w["name"], w["is_default"], w["clients"]) for w in listed] == [
        ("Default", True, 0),
        ("production", False, 0),
    ]
    with pytest.raises(CommandError, match="already exists"):
        run("workspaces", "create", "Production", "--org", str(org.pk))
    assert Workspace.objects.in_org(org).count() == 2


def test_clients_create_prints_the_password_once(org: Organization) -> None:
    Workspace.objects.create(organization=org, name="production")
    made = run_json(
        "clients", "create", "--org", str(org.pk), "--workspace", "Production", "agent-research-01"
    )
    client = MqttClient.objects.get()
    assert made["full_username"] == f"agent-research-01@{org.pk}" == client.full_username
    assert made["workspace"] == "production"
    assert len(made["password"]) >= 24 and client.check_password(made["password"])
    listed = run_json("clients", "list", "--org", str(org.pk))
    assert [c["full_username"] for c in listed] == [client.full_username]
    assert "password" not in listed[0]


def test_clients_create_text_output(org: Organization) -> None:
    out = run("clients", "create", "--org", str(org.pk), "agent-1")
    client = MqttClient.objects.get()
    password = out.split("Password: ")[1].split()[0]
    assert client.check_password(password)
    assert f"Full username: agent-1@{org.pk}" in out
    assert "It won't be shown again." in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "not-a-uuid", "agent-1"], "No organization with ID"),
        (["--org", "00000000-0000-0000-0000-000000000000", "agent-1"], "No organization with ID"),
        (["--workspace", "nowhere", "agent-1"], "No workspace named 'nowhere'"),
        (["bad@name"], "no @, spaces or dots"),
        (["agent-research-01"], "already exists"),
    ],
)
def test_clients_create_errors_change_nothing(
    org: Organization, make_client: Any, args: list[str], message: str
) -> None:
    make_client(org, "agent-research-01")
    if "--org" not in args:
        args = ["--org", str(org.pk), *args]
    with pytest.raises(CommandError, match=message):
        run("clients", "create", *args)
    assert MqttClient.objects.count() == 1


def test_reset_disable_enable_delete(org: Organization, make_client: Any) -> None:
    client, old_password = make_client(org, "agent-research-01")
    full = client.full_username
    reset = run_json("clients", "reset-password", full)
    client.refresh_from_db()
    assert client.check_password(reset["password"]) and not client.check_password(old_password)
    assert "sessions_ended" in reset and "broker_reachable" in reset
    assert run_json("clients", "disable", full)["enabled"] is False
    client.refresh_from_db()
    assert not client.enabled
    assert (
        run_json("clients", "enable", full.upper().replace(str(org.pk).upper(), str(org.pk)))["enabled"]
        is True
    )
    assert run_json("clients", "delete", full)["deleted"] is True
    assert not MqttClient.objects.exists()


@pytest.mark.parametrize("full_username", ["agent-research-01", "ghost@{org}", "agent-research-01@{other}"])
def test_unknown_clients_are_errors(
    org: Organization, other_org: Organization, make_client: Any, full_username: str
) -> None:
    client, _ = make_client(org, "agent-research-01")
    with pytest.raises(CommandError):
        run("clients", "disable", full_username.format(org=org.pk, other=other_org.pk))
    client.refresh_from_db()
    assert client.enabled


@pytest.mark.django_db(transaction=True)
def test_errors_go_to_stderr_with_a_non_zero_exit(capsys: pytest.CaptureFixture[str]) -> None:
    """As a shell sees it: exit status 1, the reason on stderr, nothing on stdout."""
    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(
            ["manage.py", "clients", "delete", "ghost@00000000-0000-0000-0000-000000000000"]
        )
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert "No organization with ID" in captured.err
    assert captured.out == ""


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_revoking_commands_end_live_sessions(
    org: Organization, make_client: Any, request: pytest.FixtureRequest
) -> None:
    """disable and reset-password reach the running broker as the dashboard does, and say how many ended."""
    make_device = request.getfixturevalue("device")  # a real broker on free ports
    client, password = make_client(org, "agent-cli")
    phone = make_device(client.full_username, password, "phone")
    assert phone.connect() == 0
    wait_for(lambda: LiveSession.objects.filter(client=client).exists(), timeout=10)
    disabled = run_json("clients", "disable", client.full_username)
    assert (disabled["broker_reachable"], disabled["sessions_ended"]) == (True, 1)
    assert phone.wait_disconnected(2.0)
    assert make_device(client.full_username, password, "again").connect() == 5  # disabled, right password
    out = run("clients", "enable", client.full_username)
    assert "0 live sessions were disconnected." in out
