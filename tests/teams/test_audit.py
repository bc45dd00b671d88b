"""The audit trail: an entry for each kind of change, in the change's own transaction, naming who
and from where, never holding a secret; the Audit log page, its paging and filters; the commands."""

import json
import re
from io import StringIO
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.urls import reverse

from acl.language import RuleSpec
from clients.credentials import generate_password
from clients.models import AclRule, BrokerNode, LiveSession, MqttClient
from clients.provisioning import create_client
from workspaces import audit, members
from workspaces.models import ApiKey, AuditEntry, Membership, Organization, Workspace

PASSWORD = "a-long-member-password"


def actions(org: Organization) -> list[str]:
    return list(AuditEntry.objects.in_org(org).order_by("id").values_list("action", flat=True))


def stored_rows() -> str:
    """Every audit row as stored, as one string to search for secrets."""
    return json.dumps([list(row) for row in AuditEntry.objects.values_list()], default=str)


def invitation_link(response: Any) -> str:
    found = re.search(r'value="(http://testserver/invitations/[^"]+)"', response.content.decode())
    assert found, "no invitation link in the reveal"
    return found.group(1)


def test_every_kind_of_change_leaves_an_entry_and_none_holds_a_secret(
    owner_client: Client, org: Organization, viewer: User, client: Client
) -> None:
    secrets: list[str] = []
    device, device_password = create_client(organization=org, username="agent-online")
    secrets.append(device_password)
    live_session = LiveSession.objects.create(
        node=BrokerNode.objects.create(pid=1),
        client=device,
        mqtt_client_id="agent-online",
        remote_address="192.0.2.7:1",
    )

    def post(name: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        response = owner_client.post(
            reverse(name, kwargs=kwargs or None), data or {}, REMOTE_ADDR="192.0.2.10"
        )
        # 200 is a reveal, 302 the redirect after a change: never the sign-in page.
        assert response.status_code in (200, 302), (name, response.status_code)
        assert not response.get("Location", "").startswith(reverse("login")), name
        return response

    # Clients, through the dashboard: the reveal holds the password, the log must not.
    for _ in range(2):
        secrets.append(generate_password())
    created = post(
        "clients:create",
        {"username": "agent-02", "workspace": org.default_workspace.pk, "password": secrets[-2]},
    )
    assert secrets[-2] in created.content.decode()
    agent = MqttClient.objects.get(username="agent-02")
    reset = post("clients:reset-password", {"password": secrets[-1]}, pk=agent.pk)
    assert secrets[-1] in reset.content.decode()
    staging = Workspace.objects.create(organization=org, name="staging-base")
    post("clients:edit", {"username": "agent-03", "workspace": staging.pk, "description": "x"}, pk=agent.pk)
    post("clients:session-disconnect", pk=live_session.pk)
    post("clients:delete", pk=agent.pk)
    # Workspaces and the organization.
    post("workspaces:create", {"name": "production"})
    production = Workspace.objects.get(name="production")
    post("workspaces:rename", {"name": "prod"}, pk=production.pk)
    post("workspaces:delete", pk=production.pk)
    post("workspaces:organization", {"name": "Renamed A"})
    # ACL rules, through their model verbs (the views call the same).
    rule = AclRule.objects.append(org.default_workspace, RuleSpec("*", "publish", "a/#", "allow"))
    rule.change(RuleSpec("*", "publish", "b/#", "deny"))
    AclRule.objects.append(org.default_workspace, RuleSpec("*", "all", "c/#", "allow"))
    rule.move(+1)
    rule.delete()
    AclRule.objects.set_default(org.default_workspace, "deny")
    AclRule.objects.replace_policy(org.default_workspace, "allow", [RuleSpec("*", "all", "#", "allow")])
    # Members and invitations.
    invited = post("workspaces:member-invite", {"email": "new@a.example", "role": "viewer"})
    link = invitation_link(invited)
    secrets += [link, link.rstrip("/").rsplit("/", 1)[1]]
    assert Client().post(link.removeprefix("http://testserver"), {"password": PASSWORD}).status_code == 302
    secrets.append(PASSWORD)
    second = post("workspaces:member-invite", {"email": "later@a.example", "role": "admin"})
    secrets.append(invitation_link(second))
    post(
        "workspaces:invitation-revoke",
        pk=AuditEntry.objects.get(action="invitation.created", target_name="later@a.example").target_id,
    )
    member = Membership.objects.get(user=viewer)
    post("workspaces:member-role", {"role": "admin"}, pk=member.pk)
    post("workspaces:member-remove", pk=member.pk)
    # API keys: the key is in the reveal, never in the log.
    made = post("workspaces:apikey-create", {"name": "deploy", "role": "admin"})
    key = re.search(r'id="new-api-key" class="mono" value="([^"]+)"', made.content.decode())
    assert key, "no key in the reveal"
    secrets.append(key.group(1))
    post("workspaces:apikey-revoke", pk=ApiKey.objects.get(name="deploy").pk)
    # Sign-ins, failures, a lockout and its clearing; a password change.
    owner = User.objects.get(email="owner@a.example")
    owner.set_password("the-owners-first-password")
    owner.save()
    owner_client.force_login(owner, backend="workspaces.backends.EmailBackend")
    secrets += ["the-owners-first-password", "wrong-password-guess"]
    for _ in range(5):
        client.post(reverse("login"), {"username": "owner@a.example", "password": "wrong-password-guess"})
    from axes.models import AccessAttempt

    post("workspaces:lockout-clear", pk=AccessAttempt.objects.get().pk)
    assert (
        client.post(
            reverse("login"), {"username": "owner@a.example", "password": "the-owners-first-password"}
        ).status_code
        == 302
    )
    post(
        "account-password",
        {
            "old_password": "the-owners-first-password",
            "new_password1": "the-owners-second-password",
            "new_password2": "the-owners-second-password",
        },
    )
    secrets.append("the-owners-second-password")
    post("sign-out-others")

    recorded = set(actions(org))
    assert set(audit.ACTIONS) - recorded == set(), "actions never recorded"
    rows = stored_rows()
    for secret in secrets:
        assert secret not in rows
    assert "argon2" not in rows and "pbkdf2" not in rows


def test_a_web_change_names_the_member_and_their_address(owner_client: Client, org: Organization) -> None:
    owner_client.post(reverse("workspaces:create"), {"name": "production"}, REMOTE_ADDR="192.0.2.44")
    entry = AuditEntry.objects.get(action="workspace.created")
    assert (entry.actor_kind, entry.actor, entry.source_address) == (
        "member",
        "owner@a.example",
        "192.0.2.44",
    )
    assert (entry.target_type, entry.target_name) == ("workspace", "production")
    assert entry.actor_user is not None and entry.actor_user.email == "owner@a.example"


def test_a_command_line_change_names_the_os_user(org: Organization) -> None:
    with mock.patch("getpass.getuser", return_value="alice"):
        call_command("workspaces", "create", "from-shell", "--org", str(org.pk), stdout=StringIO())
    entry = AuditEntry.objects.get(action="workspace.created")
    assert (entry.actor_kind, entry.actor, entry.source_address) == ("cli", "cli:alice", None)


def test_a_change_that_rolls_back_leaves_no_entry(org: Organization, owner: User) -> None:
    before = AuditEntry.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        create_client(organization=org, username="agent-rolled-back")
        raise RuntimeError("the caller's transaction fails after the change")
    # Failing inside the change, after its entry was written.
    client, _ = create_client(organization=org, username="agent-kept")
    with (
        mock.patch.object(MqttClient, "_save_revoking", side_effect=RuntimeError),
        pytest.raises(RuntimeError),
    ):
        client.disable()
    with pytest.raises(members.LastOwnerError):
        members.remove(Membership.objects.get(user=owner))
    assert list(AuditEntry.objects.values_list("action", "target_name")[before:]) == [
        ("client.created", client.full_username)
    ]


def test_record_refuses_details_that_look_like_a_secret(org: Organization) -> None:
    with pytest.raises(ValueError, match="secrets"):
        audit.record(org, "client.updated", details={"password": "x"})


@pytest.fixture
def many_entries(org: Organization) -> list[AuditEntry]:
    actor = audit.Actor.command_line()
    return AuditEntry.objects.bulk_create(
        AuditEntry(
            organization=org,
            actor_kind=actor.kind,
            actor="cli:alice" if i % 2 else "cli:bob",
            action="client.created" if i % 3 else "client.deleted",
            target_type="client",
            target_id=str(i),
            target_name=f"agent-{i:03}",
            details={"n": i},
        )
        for i in range(120)
    )


def test_the_audit_log_pages_newest_first(owner_client: Client, many_entries: list[AuditEntry]) -> None:
    seen: list[str] = []
    url = reverse("workspaces:audit")
    while url:
        html = owner_client.get(url).content.decode()
        seen += re.findall(r"agent-\d{3}", html)
        older = re.search(r'href="([^"]*before=\d+)"', html)
        url = older.group(1).replace("&amp;", "&") if older else ""
    assert seen == [f"agent-{i:03}" for i in reversed(range(120))]


def test_the_audit_log_filters_by_actor_action_and_target(
    owner_client: Client, many_entries: list[AuditEntry]
) -> None:
    url = reverse("workspaces:audit")
    by_action = owner_client.get(url, {"action": "client.deleted", "actor": "cli:bob"}).content.decode()
    assert set(re.findall(r"agent-(\d{3})", by_action)) == {f"{i:03}" for i in range(0, 120, 6)}
    by_target = owner_client.get(url, {"target_type": "client", "target": "agent-007"}).content.decode()
    assert re.findall(r"agent-\d{3}", by_target.split('id="audit-table"')[1]) == ["agent-007"]
    htmx = owner_client.get(url, {"action": "client.deleted"}, headers={"HX-Request": "true"})
    assert b"<html" not in htmx.content and b'id="audit-table"' in htmx.content


def test_a_target_matches_by_id_or_by_name_and_pages_both_ways(org: Organization) -> None:
    """Entries whose target id or whose target name is "7" (each read through its own index),
    merged newest first, paged towards the oldest and back."""
    AuditEntry.objects.bulk_create(
        AuditEntry(
            organization=org,
            actor_kind="cli",
            actor="cli:alice",
            action="client.updated",
            target_type="client",
            target_id="7" if i % 2 else f"id-{i}",
            target_name="7" if i % 3 == 0 else f"name-{i}",
        )
        for i in range(60)
    )
    newest_first = AuditEntry.objects.order_by("-id").values_list("id", "target_id", "target_name")
    wanted = [pk for pk, target_id, name in newest_first if "7" in (target_id, name)]
    assert len(wanted) == 40  # 30 by id, 20 by name, 10 of them by both

    shown = audit.page(org, target="7", size=7)
    pages = [shown]
    while shown.has_older:
        shown = audit.page(org, target="7", before=shown.entries[-1].pk, size=7)
        pages.append(shown)
    assert [e.pk for page in pages for e in page.entries] == wanted
    back = audit.page(org, target="7", after=wanted[10], size=7)
    assert [e.pk for e in back.entries] == wanted[3:10] and back.has_newer and back.has_older


def test_the_audit_log_shows_nothing_of_another_organization(
    outsider_client: Client, many_entries: list[AuditEntry]
) -> None:
    assert "agent-" not in outsider_client.get(reverse("workspaces:audit")).content.decode()


def test_audit_list_command_prints_json_since_a_time(
    org: Organization, many_entries: list[AuditEntry]
) -> None:
    AuditEntry.objects.filter(pk__in=[e.pk for e in many_entries[:100]]).update(
        created="2020-01-01T00:00:00Z"
    )
    out = StringIO()
    call_command("audit", "list", "--org", str(org.pk), "--since", "1d", "--json", stdout=out)
    rows = json.loads(out.getvalue())
    assert [r["target"]["name"] for r in rows if r["target"]["type"] == "client"] == [
        f"agent-{i:03}" for i in reversed(range(100, 120))
    ]
    assert set(rows[0]) >= {"time", "actor", "source_address", "action", "target", "details"}


def test_pruning_keeps_the_retention(
    org: Organization, many_entries: list[AuditEntry], settings: Any
) -> None:
    settings.AUDIT_RETENTION_DAYS = 30
    AuditEntry.objects.filter(pk__in=[e.pk for e in many_entries[:7]]).update(created="2020-01-01T00:00:00Z")
    out = StringIO()
    call_command("audit", "prune", stdout=out)
    assert "Deleted 7" in out.getvalue()
    assert AuditEntry.objects.filter(target_type="client").count() == 113


def test_members_commands(org: Organization, viewer: User) -> None:
    def run(*args: str) -> Any:
        out = StringIO()
        call_command("members", *args, "--org", str(org.pk), "--json", stdout=out)
        return json.loads(out.getvalue())

    assert {m["email"]: m["role"] for m in run("list")} == {
        "owner@a.example": "owner",
        "viewer@a.example": "viewer",
    }
    invited = run("invite", "ops@a.example", "--role", "admin")
    assert invited["link"].startswith("http://localhost:8000/invitations/")
    assert (
        Client()
        .post(invited["link"].removeprefix("http://localhost:8000"), {"password": PASSWORD})
        .status_code
        == 302
    )
    assert run("role", "viewer@a.example", "admin") == {"email": "viewer@a.example", "role": "admin"}
    assert run("remove", "viewer@a.example")["removed"] == "viewer@a.example"
    assert {m["email"] for m in run("list")} == {"owner@a.example", "ops@a.example"}
    assert invited["link"] not in stored_rows()
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="needs an owner"):
        call_command("members", "remove", "owner@a.example", "--org", str(org.pk), stdout=StringIO())


def test_organizations_create_prints_a_one_time_set_password_link(db: None) -> None:
    out = StringIO()
    call_command("organizations", "create", "Acme", "--owner", "ops@acme.example", stdout=out)
    link = re.search(r"http://localhost:8000(/account/set-password/\S+)", out.getvalue())
    assert link, out.getvalue()
    browser = Client()
    form = browser.get(link.group(1), follow=True)
    assert "Choose your password" in form.content.decode()
    done = browser.post(form.redirect_chain[-1][0], {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert done.status_code == 302
    assert User.objects.get(email="ops@acme.example").check_password(PASSWORD)
    assert AuditEntry.objects.filter(action="account.password_changed", actor="anonymous").exists()
    assert "no longer works" in Client().get(link.group(1), follow=True).content.decode()


def test_an_invitation_is_mailed_when_a_mail_server_is_set(owner_client: Client, settings: Any) -> None:
    from django.core import mail

    settings.MAIL_HOST = "mail.example"
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    response = owner_client.post(
        reverse("workspaces:member-invite"), {"email": "new@a.example", "role": "viewer"}
    )
    link = invitation_link(response)
    assert "It was also sent to new@a.example" in response.content.decode()
    assert [m.to for m in mail.outbox] == [["new@a.example"]] and link in mail.outbox[0].body
