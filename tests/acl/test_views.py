"""The ACL pages: what a viewer sees, the htmx partials, errors beside their fields, and the "Test
access" simulator. (Who may open and change them is the access checklist's, tests/views/test_access.py.)"""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from clients.models import AclRule
from workspaces.models import Organization, Workspace

HX = {"HX-Request": "true"}
RULE = {"client": "agent-*", "action": "publish", "topic": "sensors/${clientid}/#", "permission": "allow"}


def topics(workspace: Workspace) -> list[str]:
    return list(AclRule.objects.in_workspace(workspace).values_list("topic", flat=True))


@pytest.fixture
def rule(workspace: Workspace, add_rule: Callable[..., AclRule]) -> AclRule:
    return add_rule(workspace, "first/#")


# Who may open and change these pages (owner, admin, viewer, outsider, wrong method, unknown id) is
# the one access checklist's, tests/views/test_access.py; here, what only these pages do.


def test_a_rule_of_another_workspace_is_404(
    owner_client: Client, org: Organization, workspace: Workspace, rule: AclRule
) -> None:
    """A rule id is only found under its own workspace."""
    production = Workspace.objects.create(organization=org, name="production")
    assert owner_client.get(reverse("acl:rule-edit", args=[production.pk, rule.pk])).status_code == 404


def test_viewer_sees_rules_without_change_controls(
    viewer_client: Client, workspace: Workspace, rule: AclRule
) -> None:
    response = viewer_client.get(reverse("acl:rules"))
    assert response.status_code == 200
    assert b"first/#" in as_read(response.content)
    assert reverse("acl:rule-add", args=[workspace.pk]).encode() not in response.content
    assert reverse("acl:rule-delete", args=[workspace.pk, rule.pk]).encode() not in response.content


def test_page_picks_a_workspace(
    owner_client: Client, org: Organization, add_rule: Callable[..., AclRule]
) -> None:
    """Rules are per workspace: the picker shows one workspace's rules, the default workspace first."""
    production = Workspace.objects.create(organization=org, name="production")
    add_rule(org.default_workspace, "dev/only")
    add_rule(production, "prod/only")
    page = as_read(owner_client.get(reverse("acl:rules")).content).decode()
    assert "dev/only" in page and "prod/only" not in page
    page = as_read(owner_client.get(reverse("acl:rules"), {"workspace": production.pk}).content).decode()
    assert "prod/only" in page and "dev/only" not in page


def test_outsider_cannot_pick_another_organizations_workspace(
    outsider_client: Client, workspace: Workspace, rule: AclRule
) -> None:
    assert outsider_client.get(reverse("acl:rules"), {"workspace": workspace.pk}).status_code == 404
    assert outsider_client.get(reverse("acl:rules"), {"workspace": "nonsense"}).status_code == 404


# Adding, editing, moving, deleting.


def test_add_rule_with_htmx_closes_the_dialog_and_announces(
    owner_client: Client, workspace: Workspace, control: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A new rule is stored at the end, the table is told to refresh, and the broker to reload."""
    dialog = owner_client.get(reverse("acl:rule-add", args=[workspace.pk]), headers=HX)
    assert dialog.status_code == 200
    assert dialog.content.decode().lstrip().startswith("<dialog data-open")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("acl:rule-add", args=[workspace.pk]), RULE, headers=HX)
    assert response.status_code == 200
    assert response.content == b""
    # The dialog closes ("changeDone", no message: the table shows the change) and the table refreshes.
    assert response.headers["HX-Trigger"] == '{"ruleAdded": {}, "changeDone": {"message": ""}}'
    assert response.headers["HX-Reswap"] == "none"
    assert topics(workspace) == ["sensors/${clientid}/#"]
    assert control.rules_changed() == [[workspace.pk]]


def test_add_rule_without_js_is_a_full_page_and_redirects(owner_client: Client, workspace: Workspace) -> None:
    page = owner_client.get(reverse("acl:rule-add", args=[workspace.pk]))
    assert page.status_code == 200
    assert b"<html" in page.content and b"<dialog" not in page.content
    assert b"hx-post" not in page.content.split(b'id="rule-form"')[1]  # a plain form, posting normally
    response = owner_client.post(reverse("acl:rule-add", args=[workspace.pk]), RULE)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('acl:rules')}?workspace={workspace.pk}"
    assert topics(workspace) == ["sensors/${clientid}/#"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("topic", "a/#/b", "must be the last level and stand alone"),
        ("topic", "sp+rt", "must stand alone as a whole level"),
        ("topic", "", "A topic filter cannot be empty."),
        ("topic", "a\x00b", "cannot contain the NUL character"),
        ("topic", "x" * 65_536, "at most 65,535 bytes"),
        ("topic", "devices/pre${clientid}", "each as a whole level"),
        ("client", "a*b", "A * may only end the pattern"),
        ("client", "", "Name a client"),
        ("action", "delete", "Select a valid choice"),
    ],
)
def test_invalid_rule_rerenders_with_the_error_beside_the_field(
    owner_client: Client, workspace: Workspace, field: str, value: str, message: str
) -> None:
    """Bad input is refused with 200 (htmx swaps it), the error beside its field, and what was typed kept."""
    data = {**RULE, field: value}
    response = owner_client.post(reverse("acl:rule-add", args=[workspace.pk]), data, headers=HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith("<dialog data-open")
    assert f'id="rule_{field}_error"' in html
    assert message in html
    assert 'aria-invalid="true"' in html
    if field != "topic":
        assert "sensors/${clientid}/#" in html  # the rest of what was typed survives
    assert topics(workspace) == []


def test_edit_rule_keeps_its_place(
    owner_client: Client, workspace: Workspace, add_rule: Callable[..., AclRule]
) -> None:
    _first, second, _third = (add_rule(workspace, t) for t in ("a", "b", "c"))
    page = owner_client.get(reverse("acl:rule-edit", args=[workspace.pk, second.pk]))
    assert 'value="b"' in page.content.decode()
    response = owner_client.post(
        reverse("acl:rule-edit", args=[workspace.pk, second.pk]),
        {"client": "sensor-7", "action": "subscribe", "topic": "b/+", "permission": "deny"},
        headers=HX,
    )
    assert response.headers["HX-Trigger"] == '{"ruleChanged": {}, "changeDone": {"message": ""}}'
    assert topics(workspace) == ["a", "b/+", "c"]
    second.refresh_from_db()
    assert (second.client, second.action, second.permission) == ("sensor-7", "subscribe", "deny")


def test_move_reorders_and_returns_the_table(
    owner_client: Client, workspace: Workspace, add_rule: Callable[..., AclRule]
) -> None:
    first, _second, third = (add_rule(workspace, t) for t in ("a", "b", "c"))
    url = reverse("acl:rule-move", args=[workspace.pk, third.pk])
    response = owner_client.post(url, {"direction": "up"}, headers=HX)
    assert response.status_code == 200
    html = as_read(response.content).decode()
    assert html.lstrip().startswith('<div id="rule-table"')
    assert html.index("<code>c</code>") < html.index("<code>b</code>")
    assert topics(workspace) == ["a", "c", "b"]
    owner_client.post(url, {"direction": "up"}, headers=HX)
    owner_client.post(url, {"direction": "up"}, headers=HX)  # already first: stays
    assert topics(workspace) == ["c", "a", "b"]
    owner_client.post(reverse("acl:rule-move", args=[workspace.pk, first.pk]), {"direction": "down"})
    assert topics(workspace) == ["c", "b", "a"]


def test_delete_rule(owner_client: Client, workspace: Workspace, add_rule: Callable[..., AclRule]) -> None:
    _first, second, _third = (add_rule(workspace, t) for t in ("a", "b", "c"))
    confirm = owner_client.get(reverse("acl:rule-delete", args=[workspace.pk, second.pk]), headers=HX)
    assert b"Delete rule 2?" in confirm.content
    response = owner_client.post(reverse("acl:rule-delete", args=[workspace.pk, second.pk]), headers=HX)
    assert response.headers["HX-Trigger"] == '{"ruleDeleted": {}, "changeDone": {"message": ""}}'
    assert topics(workspace) == ["a", "c"]
    assert list(AclRule.objects.in_workspace(workspace).values_list("position", flat=True)) == [0, 1]


def test_default_can_be_changed(
    owner_client: Client, workspace: Workspace, control: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("acl:default", args=[workspace.pk]), {"default": "deny"}, headers=HX
        )
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == '{"defaultChanged": {}}'
    assert response.content.decode().lstrip().startswith('<div id="default-form"')
    workspace.refresh_from_db()
    assert workspace.default_permission == "deny"
    assert control.rules_changed() == [[workspace.pk]]
    bad = owner_client.post(reverse("acl:default", args=[workspace.pk]), {"default": "maybe"}, headers=HX)
    assert bad.status_code == 200
    assert "Select a valid choice" in bad.content.decode()
    workspace.refresh_from_db()
    assert workspace.default_permission == "deny"


def test_new_workspaces_allow_by_default(org: Organization) -> None:
    assert Workspace.objects.create(organization=org, name="fresh").default_permission == "allow"


def test_htmx_refresh_of_the_table(owner_client: Client, workspace: Workspace, rule: AclRule) -> None:
    response = owner_client.get(reverse("acl:rules"), {"workspace": workspace.pk}, headers=HX)
    html = as_read(response.content).decode()
    assert html.lstrip().startswith('<div id="rule-table"')
    assert "first/#" in html and "<html" not in html


# The simulator.


def test_simulator_names_the_deciding_rule(
    viewer_client: Client,
    org: Organization,
    workspace: Workspace,
    add_rule: Callable[..., AclRule],
    make_client: Any,
) -> None:
    """Test access answers allow or deny and names the rule that decided; viewers may use it."""
    add_rule(workspace, "sensors/secret", action="publish", permission="deny")
    add_rule(workspace, "sensors/${clientid}/#", client="agent-*", action="publish")
    agent, _ = make_client(org, "agent-1")
    url = reverse("acl:simulate", args=[workspace.pk])

    response = viewer_client.post(
        url, {"client": agent.pk, "action": "publish", "topic": "sensors/agent-1/t"}, headers=HX
    )
    assert response.status_code == 200
    html = as_read(response.content).decode()
    assert html.lstrip().startswith('<section class="card" id="simulator"')
    assert "Allowed" in html
    assert "rule 2: allow publish &quot;sensors/${clientid}/#&quot; for agent-*" in html

    response = viewer_client.post(
        url,
        {"client": agent.pk, "client_id": "other", "action": "publish", "topic": "sensors/agent-1/t"},
        headers=HX,
    )
    assert "Denied" not in response.content.decode()  # the default (allow) decides
    assert "workspace default: allow" in response.content.decode()

    response = viewer_client.post(
        url, {"username": "someone", "action": "publish", "topic": "sensors/secret"}
    )
    html = response.content.decode()
    assert "<html" in html  # without htmx, the full page with the answer
    assert "Denied" in html and "rule 1: deny publish" in html


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"action": "publish", "topic": "a"}, "username", "Pick a client or type a username."),
        (
            {"username": "a@b", "action": "publish", "topic": "a"},
            "username",
            "without the @organization part",
        ),
        ({"username": "a", "action": "publish", "topic": "a/+"}, "topic", "only for subscriptions"),
        ({"username": "a", "action": "subscribe", "topic": "a/#/b"}, "topic", "must be the last level"),
        ({"username": "a", "action": "subscribe", "topic": ""}, "topic", "Type a topic to test."),
    ],
)
def test_simulator_errors_beside_the_field(
    owner_client: Client, workspace: Workspace, data: dict[str, str], field: str, message: str
) -> None:
    response = owner_client.post(reverse("acl:simulate", args=[workspace.pk]), data, headers=HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="sim_{field}_error"' in html and message in html
    assert 'id="decision"' not in html


def test_simulator_only_offers_the_workspaces_clients(
    owner_client: Client, org: Organization, workspace: Workspace, make_client: Any
) -> None:
    production = Workspace.objects.create(organization=org, name="production")
    elsewhere, _ = make_client(org, "prod-agent-1", workspace=production)
    response = owner_client.post(
        reverse("acl:simulate", args=[workspace.pk]),
        {"client": elsewhere.pk, "action": "publish", "topic": "a"},
    )
    assert "Select a valid choice" in response.content.decode()


def test_htmx_history_restore_gets_the_whole_page(owner_client: Client, workspace: Workspace) -> None:
    """htmx asks for the whole page when its history cache misses; a table alone would replace the page."""
    headers = {**HX, "HX-History-Restore-Request": "true"}
    response = owner_client.get(reverse("acl:rules"), {"workspace": workspace.pk}, headers=headers)
    assert b"<html" in response.content


def test_a_rule_naming_no_existing_client_is_flagged(
    owner_client: Client,
    org: Organization,
    workspace: Workspace,
    add_rule: Callable[..., AclRule],
    make_client: Any,
) -> None:
    """A username rule for a client the workspace does not have is shown as such (a likely typo)."""
    make_client(org, "sensor-7")
    add_rule(workspace, "a", client="Sensor-7")
    typo = add_rule(workspace, "b", client="sensr-7")
    add_rule(workspace, "c", client="sensr-*")
    html = owner_client.get(reverse("acl:rules")).content.decode()
    assert html.count("no such client") == 1
    row = html.split(f'id="rule-{typo.pk}"')[1].split("</tr>")[0]
    assert "no such client" in row


def as_read(html: bytes) -> bytes:
    """The page without the <wbr> break hints that long topics and names carry (templatetags.dashboard)."""
    return html.replace(b"<wbr>", b"")
