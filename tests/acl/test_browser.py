"""The ACL Rules page in a real browser: dialogs, htmx swaps and the simulator, as an admin uses them."""

import pytest
from playwright.sync_api import expect

from acl.language import RuleSpec
from clients.models import AclRule
from clients.provisioning import create_client
from tests.support.browser_fixtures import Visit
from workspaces.onboarding import create_organization, find_or_create_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_rules_are_added_reordered_deleted_and_tested_in_place(visit: Visit) -> None:
    owner = find_or_create_user("owner@acme.example", "a-long-owner-password-1")
    organization = create_organization(owner=owner, name="Acme")
    workspace = organization.default_workspace
    create_client(organization=organization, username="agent-1")
    AclRule.objects.append(workspace, RuleSpec("*", "subscribe", "sensors/secret", "deny"))

    page = visit.page
    page.goto("/login/?next=/acl/")
    page.get_by_label("Email").fill("owner@acme.example")
    page.get_by_label("Password").fill("a-long-owner-password-1")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="ACL Rules", exact=True)).to_be_visible()

    # Add: a dialog; a bad filter is refused beside its field and keeps what was typed.
    page.get_by_role("link", name="Add rule").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Client").fill("agent-*")
    dialog.get_by_label("Topic filter").fill("agents/#/status")
    dialog.get_by_role("button", name="Save rule").click()
    expect(dialog.get_by_text("'#' must be the last level and stand alone")).to_be_visible()
    expect(dialog.get_by_label("Client")).to_have_value("agent-*")
    dialog.get_by_label("Topic filter").fill("agents/${clientid}/#")
    dialog.get_by_role("button", name="Save rule").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    table = page.locator("#rule-table")
    expect(table.get_by_text("agents/${clientid}/#")).to_be_visible()
    assert [r.topic for r in AclRule.objects.in_workspace(workspace)] == [
        "sensors/secret",
        "agents/${clientid}/#",
    ]

    # Reorder: the table is swapped in place.
    page.get_by_role("button", name="Move rule 2 up").click()
    expect(table.locator("tbody tr").first).to_contain_text("agents/${clientid}/#")

    # Test access names the deciding rule.
    simulator = page.locator("#simulator")
    simulator.get_by_label("Client", exact=True).select_option(label="agent-1")
    simulator.get_by_label("Topic").fill("agents/agent-1/status")
    simulator.get_by_role("button", name="Test").click()
    expect(simulator.get_by_role("status")).to_contain_text(
        'Allowed by rule 1: allow publish and subscribe "agents/${clientid}/#"'
    )

    # Default to deny, then delete the rule: the simulator now answers with the default.
    page.get_by_label("Deny").check()
    page.get_by_role("button", name="Save default").click()
    expect(page.locator("#default-form").get_by_role("status")).to_contain_text("now denied")
    page.get_by_role("link", name="Delete rule 1").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete rule").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(table.get_by_text("agents/${clientid}/#")).to_have_count(0)
    simulator.get_by_role("button", name="Test").click()
    expect(simulator.get_by_role("status")).to_contain_text("Denied by workspace default: deny")
    assert visit.outside_requests() == []
