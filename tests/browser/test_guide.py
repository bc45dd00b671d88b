"""The guide "Create a client", walked in a real browser: what only a browser shows."""

from typing import Any

import pytest
from playwright.sync_api import expect

from clients.models import MqttClient
from tests.support.browser_fixtures import Visit
from workspaces.models import Workspace
from workspaces.onboarding import setup_token

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_a_client_as_the_guide_says(visit: Visit) -> None:
    page = visit.page

    # Setup: the first organization and its owner.
    page.goto(f"/setup/?token={setup_token()}")
    page.get_by_label("Organization name").fill("Acme Robotics")
    page.get_by_label("Email").fill("owner@acme.example")
    page.get_by_label("Password").fill("a-long-owner-password-1")
    page.get_by_role("button", name="Create organization").click()
    expect(page.get_by_role("heading", name="Clients", exact=True)).to_be_visible()
    nav = page.get_by_role("navigation")
    for label in ("Clients", "Sessions", "ACL Rules", "Workspaces", "Settings"):
        expect(nav.get_by_role("link", name=label, exact=True)).to_be_visible()

    # Create Client: a dialog with a generated password; Generate gives another.
    page.get_by_role("link", name="Create Client").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Create Client", exact=True)).to_be_visible()
    password_input = dialog.get_by_label("Password")
    offered = password_input.input_value()
    assert len(offered) >= 24
    dialog.get_by_role("button", name="Generate").click()
    expect(dialog.get_by_label("Password")).not_to_have_value(offered)
    expect(dialog.get_by_label("Workspace")).to_have_value(str(Workspace.objects.get(is_default=True).pk))

    # A mistake is shown beside the field and keeps what was typed.
    dialog.get_by_label("Username").fill("agent research 01")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog.get_by_text("no @, spaces or dots")).to_be_visible()
    expect(dialog.get_by_label("Username")).to_have_value("agent research 01")

    dialog.get_by_label("Username").fill("agent-research-01")
    dialog.get_by_role("button", name="Create").click()

    # The reveal: full username, password, the warning, the examples.
    expect(dialog.get_by_text("Copy the password now. It won't be shown again.")).to_be_visible()
    password = dialog.locator("#new-password").input_value()
    full_username = dialog.locator("#new-full-username").input_value()
    client = MqttClient.objects.get()
    assert client.check_password(password)
    assert full_username == client.full_username
    expect(dialog.get_by_text("mosquitto_pub -h")).to_be_visible()

    # Copy puts the password on the clipboard.
    dialog.get_by_role("button", name="Copy password").click()
    assert page.evaluate("navigator.clipboard.readText()") == password

    # The list behind has already refreshed; Done closes the reveal and the password is gone.
    expect(page.locator("#client-table").get_by_role("link", name="agent-research-01")).to_be_visible()
    dialog.get_by_role("link", name="Done").click()
    expect(page.locator("dialog")).to_have_count(0)
    assert_nowhere(page, password)

    # Reload and back in history show it nowhere either.
    page.reload()
    assert_nowhere(page, password)
    page.locator("#client-table").get_by_role("link", name="agent-research-01").click()
    expect(page.get_by_role("heading", name="agent-research-01")).to_be_visible()
    page.go_back()
    expect(page.get_by_role("heading", name="Clients", exact=True)).to_be_visible()
    assert_nowhere(page, password)

    # Settings → Organization shows the ID that is inside the full username.
    page.get_by_role("navigation").get_by_role("link", name="Settings").click()
    organization_id = page.get_by_role("textbox", name="Organization ID").input_value()
    assert full_username.endswith("@" + organization_id)

    # Reset Password: a new one, revealed the same way.
    page.goto(f"/clients/{client.pk}/")
    page.get_by_role("link", name="Reset Password").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Reset Password").click()
    expect(dialog.get_by_text("Copy the password now. It won't be shown again.")).to_be_visible()
    new_password = dialog.locator("#new-password").input_value()
    assert new_password != password
    client.refresh_from_db()
    assert client.check_password(new_password) and not client.check_password(password)
    dialog.get_by_role("link", name="Done").click()
    expect(page.locator("dialog")).to_have_count(0)
    assert_nowhere(page, new_password)

    # Delete, after a confirmation naming the client.
    page.get_by_role("link", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(full_username)
    expect(dialog).to_contain_text("live sessions will be disconnected")
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_text(f"Deleted {full_username}.")).to_be_visible()
    expect(page.get_by_text("No clients yet")).to_be_visible()
    assert not MqttClient.objects.exists()

    # Every page, script, style and htmx request came from this server, on every page of the sidebar.
    for path in (
        "/clients/sessions/",
        "/acl/",
        "/workspaces/",
        "/settings/organization/",
        "/help/first-connection/",
        "/help/username-format/",
    ):
        page.goto(path)  # waits for "load": every stylesheet and script has been fetched
    assert visit.requested
    assert visit.outside_requests() == []


def assert_nowhere(page: Any, secret: str) -> None:
    """Not in the page, not in any input, not in htmx's history cache."""
    assert secret not in page.content()
    values = page.evaluate("Array.from(document.querySelectorAll('input')).map(i => i.value).join(' ')")
    assert secret not in values
    assert secret not in page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
