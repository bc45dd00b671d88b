"""The front door: first-run setup once and only with its token, sign-in throttling, the CSP, private
caching and a private data dir."""

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.urls import reverse

from workspaces.models import AuditEntry, Membership, Organization
from workspaces.onboarding import setup_token

PASSWORD = "the-right-long-password"


def concurrent_setups(posts: list[dict[str, str]]) -> list[tuple[dict[str, str], Client, int]]:
    """POST every form to /setup/ at the same moment, each from its own browser and connection."""
    barrier = threading.Barrier(len(posts))
    results: list[tuple[dict[str, str], Client, int]] = []

    def post(data: dict[str, str]) -> None:
        browser = Client()
        try:
            barrier.wait()
            status = browser.post("/setup/", {**data, "token": setup_token()}).status_code
            results.append((data, browser, status))
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(data,)) for data in posts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def signed_in_as(browser: Client) -> str | None:
    response = browser.get(reverse("account"))
    return response.context["user"].email if response.status_code == 200 else None


@pytest.mark.django_db(transaction=True)
def test_concurrent_setups_with_different_emails_make_exactly_one_owner() -> None:
    posts = [
        {
            "organization_name": f"Org {i}",
            "email": f"person{i}@example.com",
            "password": f"password-number-{i}-long",
        }
        for i in range(6)
    ]
    results = concurrent_setups(posts)
    assert len(results) == 6
    assert sorted(status for _, _, status in results) == [302] + [409] * 5
    assert Organization.objects.count() == 1 and User.objects.count() == 1
    assert Membership.objects.get().role == "owner"
    for data, browser, status in results:
        # The winner is signed in as themself; nobody else is signed in at all.
        assert signed_in_as(browser) == (data["email"] if status == 302 else None)


@pytest.mark.django_db(transaction=True)
def test_concurrent_setups_with_one_email_never_sign_in_the_attacker() -> None:
    """Same email, different passwords and organization names: one owner, whose password is the
    winner's, and the losing browser is not signed in as that owner."""
    posts = [
        {
            "organization_name": f"Org {i}",
            "email": "owner@example.com",
            "password": f"password-number-{i}-long",
        }
        for i in range(6)
    ]
    results = concurrent_setups(posts)
    winners = [(data, browser) for data, browser, status in results if status == 302]
    assert len(winners) == 1 and len(results) == 6
    owner = User.objects.get()
    assert owner.check_password(winners[0][0]["password"])
    assert Organization.objects.get().name == winners[0][0]["organization_name"]
    for _, browser, status in results:
        if status != 302:
            assert signed_in_as(browser) is None


@pytest.mark.django_db
def test_setup_without_the_token_explains_where_to_find_it(client: Client) -> None:
    page = client.get("/setup/")
    assert page.status_code == 200 and "docker compose logs app" in page.content.decode()
    assert "make run" in page.content.decode()
    wrong = client.post(
        "/setup/?token=guess", {"organization_name": "X", "email": "x@example.com", "password": PASSWORD}
    )
    assert wrong.status_code == 403
    assert not User.objects.exists()


@pytest.mark.django_db
def test_setup_never_signs_in_an_account_made_before_it(client: Client) -> None:
    """An owner made on the command line closes setup: nobody can sign in through it."""
    from workspaces.onboarding import create_organization, find_or_create_user

    create_organization(owner=find_or_create_user("ops@example.com"), name="Made by CLI")
    response = client.post(
        "/setup/",
        {"organization_name": "X", "email": "ops@example.com", "password": PASSWORD, "token": setup_token()},
    )
    assert response.status_code == 302
    assert signed_in_as(client) is None


def sign_in(browser: Client, email: str, password: str, address: str = "198.51.100.7") -> Any:
    return browser.post(reverse("login"), {"username": email, "password": password}, REMOTE_ADDR=address)


@pytest.fixture
def owner_with_password(owner: User, org: Organization) -> User:
    owner.set_password(PASSWORD)
    owner.save()
    return owner


def test_five_failures_lock_the_account_from_that_address(owner_with_password: User) -> None:
    browser = Client()
    for _ in range(4):
        assert sign_in(browser, "owner@a.example", "wrong-password-guess").status_code == 200
    locked = sign_in(browser, "owner@a.example", "wrong-password-guess")
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.content.decode()
    # Locked: the right password does not get in either, in any case of the email.
    assert sign_in(browser, "OWNER@a.example", PASSWORD).status_code == 429
    # From another address the account still signs in.
    assert sign_in(Client(), "owner@a.example", PASSWORD, address="203.0.113.9").status_code == 302
    kinds = list(AuditEntry.objects.values_list("action", flat=True))
    assert kinds.count("signin.failed") == 4 and "signin.locked_out" in kinds


def test_owners_see_and_clear_lockouts(owner_with_password: User, owner_client: Client) -> None:
    browser = Client()
    for _ in range(5):
        sign_in(browser, "owner@a.example", "wrong-password-guess")
    page = owner_client.get(reverse("workspaces:members")).content.decode()
    assert "Sign-in lockouts" in page and "198.51.100.7" in page
    lockout = AccessAttempt.objects.get()
    assert (
        owner_client.post(reverse("workspaces:lockout-clear", kwargs={"pk": lockout.pk})).status_code == 302
    )
    assert sign_in(browser, "owner@a.example", PASSWORD).status_code == 302
    assert AuditEntry.objects.filter(action="signin.unlocked", target_name="owner@a.example").exists()


def test_viewers_see_no_lockouts(owner_with_password: User, viewer_client: Client) -> None:
    for _ in range(5):
        sign_in(Client(), "owner@a.example", "wrong-password-guess")
    page = viewer_client.get(reverse("workspaces:members")).content.decode()
    assert "198.51.100.7" not in page
    lockout = AccessAttempt.objects.get()
    assert (
        viewer_client.post(reverse("workspaces:lockout-clear", kwargs={"pk": lockout.pk})).status_code == 403
    )


def test_every_page_carries_a_strict_content_security_policy(owner_client: Client, client: Client) -> None:
    for browser, path in ((owner_client, reverse("clients:list")), (client, reverse("login"))):
        policy = browser.get(path)["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
        assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


@pytest.mark.parametrize(
    "name",
    ["clients:list", "workspaces:list", "workspaces:members", "workspaces:audit", "account", "acl:rules"],
)
def test_pages_need_no_inline_script_or_style(owner_client: Client, name: str) -> None:
    html = owner_client.get(reverse(name)).content.decode()
    assert " style=" not in html and "<style" not in html
    assert not any(f" on{event}=" in html for event in ("change", "click", "submit", "load", "input"))
    assert all("src=" in tag for tag in html.split("<script")[1:])


def test_signed_in_pages_are_private_to_the_browser(owner_client: Client) -> None:
    for name in ("clients:list", "workspaces:members", "workspaces:audit", "account"):
        assert "private" in owner_client.get(reverse(name))["Cache-Control"]
    # Where a secret is shown, never stored at all.
    assert "no-store" in owner_client.get(reverse("clients:create"))["Cache-Control"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_dir_and_every_file_in_it_are_private(tmp_path: Path) -> None:
    """A fresh start makes them private, and a start on an old, readable data dir fixes what it finds."""
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSIGNAL_") and k != "DATABASE_URL"}
    env["CLOUDSIGNAL_DATA_DIR"] = str(data)

    def start(command: str) -> dict[str, int]:
        subprocess.run(
            [sys.executable, "manage.py", command, "-v0"], cwd=settings.BASE_DIR, env=env, check=True
        )
        return {p.name: mode(p) for p in data.rglob("*") if p.is_file()}

    made = start("migrate")
    assert mode(data) == 0o700
    assert {"cloudsignal.sqlite3", "secret_key"} <= set(made)
    assert made == dict.fromkeys(made, 0o600)
    # What earlier versions left: a 0755 dir with 0644 files.
    data.chmod(0o755)
    for path in data.rglob("*"):
        if path.is_file():
            path.chmod(0o644)
    fixed = start("check")
    assert mode(data) == 0o700
    assert fixed == dict.fromkeys(fixed, 0o600)


def test_files_made_after_start_are_born_private(tmp_path: Path) -> None:
    from cloudsignal.datadir import make_private

    before = os.umask(0o022)
    try:
        make_private(tmp_path / "fresh")
        (tmp_path / "fresh" / "later.sqlite3-wal").write_text("x")
        assert mode(tmp_path / "fresh" / "later.sqlite3-wal") == 0o600
    finally:
        os.umask(before)
