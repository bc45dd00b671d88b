"""First run, signing in and out, and that nothing is visible without signing in."""

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from workspaces.models import Membership, Organization, Workspace
from workspaces.onboarding import setup_token

SETUP = {
    "organization_name": "Acme Robotics",
    "email": "Owner@Acme.example",
    "password": "a-long-owner-password",
    "token": setup_token(),
}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/clients/", "/login/", "/acl/", "/does-not-exist/"])
def test_every_page_leads_to_setup_while_no_user_exists(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == "/setup/"


@pytest.mark.django_db
def test_setup_page_has_the_labelled_fields_and_button(client: Client) -> None:
    html = client.get(f"/setup/?token={setup_token()}").content.decode()
    for label in ("Organization name", "Email", "Password"):
        assert f">{label}</label>" in html
    assert "Create organization</button>" in html


@pytest.mark.django_db
def test_setup_creates_organization_default_workspace_and_owner_and_signs_in(client: Client) -> None:
    response = client.post("/setup/", SETUP)
    assert response.status_code == 302

    organization = Organization.objects.get()
    assert organization.name == "Acme Robotics"
    assert Workspace.objects.get(organization=organization).name == "Default"
    membership = Membership.objects.get(organization=organization)
    assert membership.role == Membership.Role.OWNER
    assert membership.user.email == "owner@acme.example"
    # Signed in: the dashboard answers without a login redirect.
    assert client.get("/clients/").status_code == 200


@pytest.mark.django_db
def test_setup_with_bad_input_shows_errors_and_writes_nothing(client: Client) -> None:
    response = client.post(
        "/setup/",
        {"organization_name": " ", "email": "not-an-email", "password": "short", "token": setup_token()},
    )
    assert response.status_code == 200
    assert response.content.decode().count('class="error"') >= 3
    assert not User.objects.exists() and not Organization.objects.exists()


@pytest.mark.django_db
def test_setup_is_gone_once_an_owner_exists(client: Client) -> None:
    client.post("/setup/", SETUP)
    intruder = Client()
    response = intruder.post("/setup/", {**SETUP, "email": "intruder@evil.example"})
    assert response.status_code == 302
    assert User.objects.count() == 1 and Organization.objects.count() == 1


@pytest.mark.django_db
def test_sign_in_with_email_and_sign_out(client: Client) -> None:
    Client().post("/setup/", SETUP)
    assert (
        client.post("/login/", {"username": "owner@acme.example", "password": "wrong-password-1"}).status_code
        == 200
    )
    response = client.post("/login/", {"username": "OWNER@acme.example", "password": SETUP["password"]})
    assert response.status_code == 302
    assert client.get("/clients/").status_code == 200
    client.post("/logout/")
    assert client.get("/clients/")["Location"].startswith("/login/")


def _all_paths() -> list[str]:
    """Every URL the project routes, with sample values for its parameters."""
    samples = {
        "int": "1",
        "uuid": "00000000-0000-0000-0000-000000000000",
        "str": "x",
        "slug": "x",
        "path": "x",
    }
    found: list[str] = []

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for p in patterns:
            route = str(p.pattern)
            for kind, value in samples.items():
                while f"<{kind}:" in route:
                    start = route.index(f"<{kind}:")
                    route = route[:start] + value + route[route.index(">", start) + 1 :]
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + route)
            else:
                found.append("/" + prefix + route)

    walk(get_resolver().url_patterns, "")
    return sorted(set(found))


PUBLIC = {"/setup/", "/login/", "/healthz", "/invitations/x/", "/account/set-password/x/x/"}
# The REST API authenticates every request with its key (tests/api): no sign-in page there.
API = "/api/v1/"
API_PUBLIC = {"/api/v1/docs", "/api/v1/openapi.json"}
# RabbitMQ's auth questions carry a shared secret in the path instead (tests/rabbitmq/test_auth_endpoints.py).
RABBITMQ_AUTH = "/rabbitmq-auth/"


def test_the_url_list_is_not_empty() -> None:
    assert "/clients/" in _all_paths()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [p for p in _all_paths() if p not in PUBLIC and not p.startswith(("/static/", API, RABBITMQ_AUTH))],
)
def test_login_required_on_every_page(owner: User, path: str) -> None:
    """Signed out, every page but setup, login and the health check sends you to sign in."""
    anonymous = Client()
    for method in (anonymous.get, anonymous.post):
        response = method(path)
        assert response.status_code == 302, f"{method.__name__} {path}"
        assert response["Location"].startswith("/login/")


@pytest.mark.django_db
@pytest.mark.parametrize("path", [p for p in _all_paths() if p.startswith(API) and p not in API_PUBLIC])
def test_the_api_answers_for_itself(owner: User, path: str) -> None:
    """Signed out and without a key, the API never leads to the sign-in page and never answers: 401
    (404 for a path that is no endpoint, 405 for a method the endpoint lacks)."""
    anonymous = Client()
    for method in (anonymous.get, anonymous.post):
        assert method(path).status_code in (401, 404, 405), f"{method.__name__} {path}"


@pytest.mark.django_db
@pytest.mark.parametrize("path", sorted(API_PUBLIC))
def test_the_api_description_and_docs_are_public(owner: User, path: str) -> None:
    assert Client().get(path).status_code == 200
