"""A team in two browsers: an owner invites a viewer, the viewer joins and cannot change anything,
the owner removes them and their next request lands on the sign-in page. No page breaks the CSP."""

import pytest
from playwright.sync_api import expect

from clients.credentials import generate_password
from tests.support.browser_fixtures import Visit
from workspaces.onboarding import create_organization, find_or_create_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OWNER_PASSWORD = "the-owners-long-password"
VIEWER_PASSWORD = "the-viewers-long-password"


def test_owner_invites_a_viewer_who_joins_looks_and_is_removed(visit: Visit) -> None:
    create_organization(owner=find_or_create_user("owner@acme.example", OWNER_PASSWORD), name="Acme")
    refused_by_csp: list[str] = []

    def watch(page: object) -> None:
        page.on(  # type: ignore[attr-defined]
            "console",
            lambda message: (
                refused_by_csp.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )

    owner = visit.page
    watch(owner)
    owner.goto("/login/")
    owner.get_by_label("Email").fill("owner@acme.example")
    owner.get_by_label("Password").fill(OWNER_PASSWORD)
    owner.get_by_role("button", name="Sign in").click()
    owner.get_by_role("link", name="Settings", exact=True).click()
    owner.get_by_role("navigation", name="Settings").get_by_role("link", name="Members").click()
    expect(owner.get_by_role("heading", name="Members", exact=True)).to_be_visible()

    # Invite: a dialog asking for Email and Role, answered with the link once and a Copy button.
    owner.get_by_role("link", name="Invite member").click()
    dialog = owner.get_by_role("dialog")
    dialog.get_by_label("Email").fill("viewer@acme.example")
    dialog.get_by_label("Role").select_option("viewer")
    dialog.get_by_role("button", name="Create invitation").click()
    expect(dialog.get_by_text("Copy the link now. It won't be shown again.")).to_be_visible()
    link = dialog.locator("#invitation-link").input_value()
    dialog.get_by_role("button", name="Copy invitation link").click()
    assert owner.evaluate("navigator.clipboard.readText()") == link
    dialog.get_by_role("link", name="Done").click()
    # Listed as a pending invitation.
    expect(owner.get_by_role("cell", name="viewer@acme.example", exact=True)).to_be_visible()

    # The viewer, in a browser of their own, joins with a password of their choice.
    viewer_context = visit.context.browser.new_context(base_url=visit.base_url)
    try:
        viewer = viewer_context.new_page()
        watch(viewer)
        viewer.goto(link)
        expect(viewer.get_by_role("heading", name="Join Acme")).to_be_visible()
        viewer.get_by_label("Choose a password").fill(VIEWER_PASSWORD)
        viewer.get_by_role("button", name="Join Acme").click()
        expect(viewer.get_by_role("heading", name="Clients", exact=True)).to_be_visible()
        expect(viewer.get_by_text("viewer@acme.example · Viewer")).to_be_visible()
        expect(viewer.get_by_role("link", name="Create Client")).to_have_count(0)

        # A direct POST, with a valid CSRF token, is refused for the role (403), not for CSRF.
        csrf = next(c["value"] for c in viewer_context.cookies() if c["name"] == "csrftoken")
        refused = viewer.request.post(
            "/clients/new/",
            form={"username": "sneaky", "password": generate_password()},
            headers={"X-CSRFToken": csrf, "Referer": visit.base_url + "/clients/"},
        )
        assert refused.status == 403 and "CSRF verification failed" not in refused.text()

        # The owner sees the new member and removes them.
        owner.reload()
        owner.get_by_role("link", name="Remove viewer@acme.example").click()
        owner.get_by_role("dialog").get_by_role("button", name="Remove member").click()
        expect(owner.get_by_role("cell", name="viewer@acme.example", exact=True)).to_have_count(0)

        # The viewer's next request goes to the sign-in page.
        viewer.get_by_role("link", name="Sessions").click()
        expect(viewer.get_by_role("heading", name="Sign in to CloudSignal")).to_be_visible()
        assert "/login/" in viewer.url
    finally:
        viewer_context.close()
    assert refused_by_csp == []
    # The watch sees a refusal when there is one: an inline handler, as an injected tag would carry.
    with owner.expect_console_message(lambda message: "Content Security Policy" in message.text):
        owner.evaluate("document.body.insertAdjacentHTML('beforeend', '<img src=\"/x\" onerror=\"1\">')")
    assert len(refused_by_csp) == 1
    assert visit.outside_requests() == []
