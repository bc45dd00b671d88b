"""In Chromium: an owner creates an API key in Settings → API keys, copies it once, and it works; the
API docs render from the server's own files with no request elsewhere and nothing refused by the CSP."""

import pytest
from playwright.sync_api import expect

from tests.support.browser_fixtures import Visit
from workspaces.onboarding import create_organization, find_or_create_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "the-owners-long-password"


def test_a_key_made_and_copied_in_the_dashboard_works_and_the_docs_work_offline(visit: Visit) -> None:
    create_organization(owner=find_or_create_user("owner@acme.example", PASSWORD), name="Acme")
    refused_by_csp: list[str] = []
    page = visit.page
    page.on(
        "console",
        lambda message: (
            refused_by_csp.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto("/login/")
    page.get_by_label("Email").fill("owner@acme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="API keys").click()

    page.get_by_role("link", name="Create API key").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("deploy-pipeline")
    dialog.get_by_label("Role").select_option("admin")
    dialog.get_by_role("button", name="Create API key").click()
    expect(dialog.get_by_text("Copy the key now. It won't be shown again.")).to_be_visible()
    key = dialog.locator("#new-api-key").input_value()
    dialog.get_by_role("button", name="Copy API key").click()
    assert page.evaluate("navigator.clipboard.readText()") == key
    dialog.get_by_role("link", name="Done").click()
    # Listed by its prefix only.
    expect(page.get_by_role("cell", name=f"{key[:12]}…")).to_be_visible()
    assert key not in page.content()

    answer = page.evaluate(
        "key => fetch('/api/v1/key', {headers: {Authorization: 'Bearer ' + key}}).then(r => r.json())", key
    )
    assert (answer["name"], answer["role"], answer["organization_name"]) == (
        "deploy-pipeline",
        "admin",
        "Acme",
    )

    # The Swagger UI bundle is 1.5 MB: more than the 5 s default on a busy machine.
    page.goto("/api/v1/docs", timeout=30_000)
    # Swagger UI renders once it has parsed the bundle and fetched the description: slow on a busy machine.
    expect(page.get_by_text("Create a client", exact=True)).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    assert visit.outside_requests() == []
    assert refused_by_csp == []
