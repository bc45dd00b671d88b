"""The dashboard at real sizes and on a phone (issue 13), over a realistic organization
(tests/support/realistic.py): what only a browser shows.

At 1280x800 and at 390x844 (phone emulation): no page scrolls sideways, dialogs fit the viewport,
an axe-core scan finds no serious or critical problem; the reveal survives Esc; focus goes to the
first invalid field; a change closes its dialog with a status line.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import Page, expect

from clients.models import MqttClient
from tests.support import realistic
from tests.support.browser_fixtures import Visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 3,
}
SIZES: dict[str, dict[str, Any]] = {"1280": DESKTOP, "390": PHONE}


@pytest.fixture
def data(visit: Visit) -> realistic.Realistic:
    return realistic.build()


@pytest.fixture
def small(visit: Visit) -> realistic.Realistic:
    """The same long names, with 200 clients: for one flow, not the layout of a big list."""
    return realistic.build(clients=200)


@pytest.fixture
def axe() -> str:
    if not AXE.is_file():
        message = "node_modules/axe-core is missing: `make test` installs it (npm ci)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return str(AXE)


def tab(visit: Visit, size: dict[str, Any], user: User | None = None) -> Iterator[Page]:
    """A new browser context of this size, signed in as `user` when given."""
    # bypass_csp: the scan injects axe-core as a script of its own, which a strict CSP would refuse.
    context = visit.context.browser.new_context(base_url=visit.base_url, bypass_csp=True, **size)
    context.set_default_timeout(5000)
    if user is not None:
        browser = Client()
        browser.force_login(user, backend="workspaces.backends.EmailBackend")
        cookie = browser.cookies[settings.SESSION_COOKIE_NAME].value
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": visit.base_url}])
    try:
        yield context.new_page()
    finally:
        context.close()


def assert_no_sideways_scroll(page: Page, what: str) -> None:
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert scroll <= inner, f"{what}: the page is {scroll}px wide in a {inner}px window"
    # A phone widens its layout viewport (innerWidth) to fit a page too wide, and zooms out.
    size = page.viewport_size
    assert size is not None and inner <= size["width"], f"{what}: zoomed out to a {inner}px layout"


def assert_dialog_fits(page: Page, what: str) -> None:
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    box = dialog.bounding_box()
    size = page.viewport_size
    assert box is not None and size is not None
    inside = (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= size["width"]
        and box["y"] + box["height"] <= size["height"]
    )
    assert inside, f"{what}: the dialog {box} is not inside the {size} viewport"


def assert_accessible(page: Page, axe: str, what: str) -> None:
    """No serious or critical axe-core violation on the page as it is now."""
    page.add_script_tag(path=axe)
    found = page.evaluate(
        """async () => {
          const result = await axe.run(document, {resultTypes: ["violations"]});
          return result.violations
            .filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => {
              const where = v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ");
              return `${v.id} (${v.impact}): ${v.help} at ${where}`;
            });
        }"""
    )
    assert found == [], f"{what}: {found}"


def check(page: Page, axe: str, what: str) -> None:
    assert_no_sideways_scroll(page, what)
    assert_accessible(page, axe, what)


def open_dialog(page: Page, name: str, axe: str | None, what: str) -> None:
    """Open a dialog, check it fits (and scan it, given axe), and close it with Esc."""
    page.get_by_role("link", name=name, exact=True).first.click()
    assert_dialog_fits(page, what)
    assert_no_sideways_scroll(page, what)
    if axe is not None:
        assert_accessible(page, axe, what)
    page.keyboard.press("Escape")
    expect(page.locator("dialog")).to_have_count(0)


# Ten pages, five dialogs and a scan of each: minutes on a busy machine, not the suite's two.
@pytest.mark.timeout(360)
@pytest.mark.parametrize("width", SIZES)
def test_every_page_holds_with_realistic_data(
    visit: Visit, data: realistic.Realistic, axe: str, width: str
) -> None:
    """Every page at this width: no sideways scroll, dialogs inside the viewport, no serious axe finding."""
    client, workspace = data.client, data.workspace
    topic = "sensors/private-building-01/floor-north/assembly-line/x/telemetry/a"
    pages = {
        "Clients": "/clients/",
        "Client": f"/clients/{client.pk}/?action=publish&topic={topic}",
        "Sessions": "/clients/sessions/",
        "ACL Rules": f"/acl/?workspace={workspace.pk}",
        "Workspaces": "/workspaces/",
        "Settings": "/settings/organization/",
        "First connection": "/help/first-connection/",
        "Username format": "/help/username-format/",
        "Not found": "/clients/987654/",
    }
    for page in tab(visit, SIZES[width], data.owner):
        for name, path in pages.items():
            page.goto(path)
            check(page, axe, f"{name} at {width}")

        page.goto("/clients/")
        expect(page.locator("#client-table tbody tr")).to_have_count(50)
        open_dialog(page, "Create Client", axe, f"Create Client at {width}")
        page.get_by_role("checkbox", name="Select all clients on this page").check()
        page.get_by_role("button", name="Delete", exact=True).click()
        assert_dialog_fits(page, f"Bulk delete at {width}")
        expect(page.get_by_role("dialog")).to_contain_text("Delete 50 clients?")
        page.keyboard.press("Escape")

        page.goto(f"/clients/{client.pk}/")
        expect(page.locator("#client-sessions tbody tr")).to_have_count(50)
        # Edit, Delete and Create Workspace are built like the two dialogs scanned: fit only, for time.
        open_dialog(page, "Edit", None, f"Edit at {width}")
        open_dialog(page, "Delete", None, f"Delete at {width}")
        page.goto(f"/acl/?workspace={workspace.pk}")
        open_dialog(page, "Add rule", axe, f"Add rule at {width}")
        page.goto("/workspaces/")
        open_dialog(page, "Create Workspace", None, f"Create Workspace at {width}")

        if width == "390":
            # The navigation waits behind a Menu button, so the page starts at the top of the screen.
            page.goto("/clients/")
            nav = page.locator("#sidebar")
            expect(page.get_by_role("link", name="Sessions")).to_be_hidden()
            sidebar = page.locator("#sidebar").bounding_box()
            assert sidebar is not None and sidebar["height"] < 80
            page.get_by_role("button", name="Menu").click()
            expect(nav.get_by_role("link", name="Sessions")).to_be_visible()
            check(page, axe, "Menu open at 390")

    for page in tab(visit, SIZES[width]):
        page.goto("/login/")
        page.get_by_label("Email").fill("nobody@realistic.example")
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_be_visible()
        check(page, axe, f"Sign in with an error at {width}")


def test_esc_on_the_reveal_keeps_the_password(visit: Visit, small: realistic.Realistic, axe: str) -> None:
    """Esc (twice), Done or the backdrop do not discard the copy-once password; copying it, or saying
    "Close anyway", lets the dialog close."""
    for page in tab(visit, PHONE, small.owner):
        page.goto("/clients/")
        page.get_by_role("link", name="Create Client").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Username").fill("agent-phone-01")
        expect(dialog.locator("#username-preview")).to_have_text(f"agent-phone-01@{small.organization.pk}")
        dialog.get_by_role("button", name="Create").tap()
        password_input = dialog.locator("#new-password")
        expect(password_input).to_be_visible()
        password = password_input.input_value()
        assert MqttClient.objects.get(username="agent-phone-01").check_password(password)
        assert_dialog_fits(page, "The reveal at 390")
        check(page, axe, "The reveal at 390")

        question = dialog.get_by_text("You won't see this password again. Close anyway?")
        page.keyboard.press("Escape")
        expect(question).to_be_visible()
        expect(password_input).to_have_value(password)
        # Chromium closes a modal on a second Esc without a click in between: the dialog comes back.
        page.keyboard.press("Escape")
        expect(page.locator("dialog[open] #new-password")).to_have_value(password)
        dialog.get_by_role("button", name="Keep it open").click()
        expect(question).to_be_hidden()
        dialog.get_by_role("link", name="Done").click()
        expect(question).to_be_visible()
        expect(password_input).to_have_value(password)
        dialog.get_by_role("button", name="Close anyway").click()
        expect(page.locator("dialog")).to_have_count(0)
        assert password not in page.content()

        # Once copied, the reveal closes without asking.
        client = MqttClient.objects.get(username="agent-phone-01")
        page.goto(f"/clients/{client.pk}/")
        page.get_by_role("link", name="Reset Password").click()
        page.get_by_role("dialog").get_by_role("button", name="Reset Password").click()
        page.get_by_role("button", name="Copy password").click()
        page.keyboard.press("Escape")
        expect(page.locator("dialog")).to_have_count(0)


def test_focus_goes_to_the_first_invalid_field(visit: Visit, small: realistic.Realistic) -> None:
    """A refused form puts the keyboard on the field to fix, whose error is tied to it; overlong
    input is refused with the limit, not cut."""
    for page in tab(visit, DESKTOP, small.owner):
        page.goto("/clients/")
        page.get_by_role("link", name="Create Client").click()
        dialog = page.get_by_role("dialog")
        too_long = "a" * 65
        dialog.get_by_label("Username").fill(too_long)
        dialog.get_by_label("Description").focus()
        dialog.get_by_role("button", name="Create").click()
        expect(dialog.get_by_text("at most 64 characters (it has 65)")).to_be_visible()
        username = dialog.get_by_label("Username")
        expect(username).to_be_focused()
        expect(username).to_have_value(too_long)
        assert "id_username_error" in (username.get_attribute("aria-describedby") or "")
        assert not MqttClient.objects.filter(username__startswith="aaaa").exists()

        page.goto("/workspaces/")
        page.get_by_role("link", name="Create Workspace").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Name").fill("w" * 200)
        dialog.get_by_role("button", name="Create").click()
        expect(dialog.get_by_text("at most 64 characters (it has 200)")).to_be_visible()
        expect(dialog.get_by_label("Name")).to_be_focused()


def test_a_change_closes_its_dialog_with_a_status_line(visit: Visit, small: realistic.Realistic) -> None:
    """Edit saves, closes, updates the page in place and says so: no Done modal to click away."""
    for page in tab(visit, DESKTOP, small.owner):
        page.goto(f"/clients/{small.client.pk}/")
        page.get_by_role("link", name="Edit").click()
        dialog = page.get_by_role("dialog")
        checkbox = dialog.get_by_label("Enabled")
        label = dialog.locator("label[for=id_enabled]").bounding_box()
        box = checkbox.bounding_box()
        assert label and box and abs(label["y"] - box["y"]) < 20 and label["x"] - box["x"] < 40
        dialog.get_by_label("Description").fill("Moved to the south floor")
        dialog.get_by_role("button", name="Save").click()
        expect(page.locator("dialog")).to_have_count(0)
        expect(page.get_by_role("status").filter(has_text="Client saved.")).to_be_visible()
        expect(page.locator("#client-facts")).to_contain_text("Moved to the south floor")
