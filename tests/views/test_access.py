"""One access checklist for every dashboard URL: it works for the owner, viewers get 403 on every
change, outsiders get 404 on every object of another organization, a wrong method is 405, and an
unknown id is 404."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from clients.credentials import generate_password
from clients.models import LiveSession, MqttClient
from workspaces.models import Organization, Workspace


@dataclass(frozen=True)
class Route:
    name: str
    # Which object the URL names: "client", "workspace", "session" or None.
    target: str | None = None
    change: bool = False
    methods: tuple[str, ...] = ("GET",)
    data: Callable[[dict[str, Any]], dict[str, Any]] = field(default=lambda objects: {})
    owner_only: bool = False
    # A page that htmx never swaps in whole (it only refreshes parts of it).
    full_page: bool = False

    def __str__(self) -> str:
        return self.name


ROUTES = [
    Route("clients:list"),
    Route("clients:sessions"),
    Route(
        "clients:create",
        change=True,
        methods=("GET", "POST"),
        data=lambda o: {
            "username": "agent-new",
            "password": generate_password(),
            "workspace": o["org"].default_workspace.pk,
        },
    ),
    Route("clients:generate-password", change=True),
    Route("clients:detail", target="client", full_page=True),
    Route("clients:detail-sessions", target="client"),
    Route(
        "clients:edit",
        target="client",
        change=True,
        methods=("GET", "POST"),
        data=lambda o: {
            "username": "agent-renamed",
            "workspace": o["staging"].pk,
            "description": "moved",
            "enabled": "on",
        },
    ),
    Route(
        "clients:reset-password",
        target="client",
        change=True,
        methods=("GET", "POST"),
        data=lambda o: {"password": generate_password()},
    ),
    Route("clients:delete", target="client", change=True, methods=("GET", "POST")),
    Route("clients:session-disconnect", target="session", change=True, methods=("GET", "POST")),
    Route("workspaces:list"),
    Route("workspaces:create", change=True, methods=("GET", "POST"), data=lambda o: {"name": "production"}),
    Route(
        "workspaces:rename",
        target="workspace",
        change=True,
        methods=("GET", "POST"),
        data=lambda o: {"name": "qa"},
    ),
    Route("workspaces:delete", target="workspace", change=True, methods=("GET", "POST")),
    Route(
        "workspaces:organization",
        change=True,
        owner_only=True,
        full_page=True,
        methods=("GET", "POST"),
        data=lambda o: {"name": "Renamed A"},
    ),
    Route("help-username-format", full_page=True),
    Route("help-first-connection", full_page=True),
]
OBJECT_ROUTES = [r for r in ROUTES if r.target]
CHANGES = [r for r in ROUTES if r.change]


@pytest.fixture
def objects(
    org: Organization, a_client: MqttClient, staging: Workspace, live_session: LiveSession
) -> dict[str, Any]:
    return {"org": org, "client": a_client, "workspace": staging, "staging": staging, "session": live_session}


def url(route: Route, objects: dict[str, Any], pk: int | None = None) -> str:
    if route.target is None:
        return reverse(route.name)
    return reverse(route.name, kwargs={"pk": pk if pk is not None else objects[route.target].pk})


def change_method(route: Route) -> str:
    return "POST" if "POST" in route.methods else "GET"


def request(client: Client, method: str, path: str, data: dict[str, Any] | None = None) -> Any:
    return (
        client.generic(method, path)
        if method not in ("GET", "POST")
        else getattr(client, method.lower())(path, data or {})
    )


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_works_for_the_owner(route: Route, owner_client: Client, objects: dict[str, Any]) -> None:
    """Every page and every change works for the owner, without and with htmx."""
    for method in route.methods:
        path = url(route, objects)
        response = request(owner_client, method, path, route.data(objects) if method == "POST" else None)
        assert response.status_code in (200, 302), (method, path, response.status_code)


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_dialogs_and_partials_answer_htmx(
    route: Route, owner_client: Client, objects: dict[str, Any]
) -> None:
    """An htmx GET gets a fragment, never a whole page inside the page."""
    response = owner_client.get(url(route, objects), headers={"HX-Request": "true"})
    assert response.status_code == 200
    if not route.full_page:
        assert b"<html" not in response.content


@pytest.mark.parametrize("route", CHANGES, ids=str)
def test_viewers_are_refused_every_change(
    route: Route, viewer_client: Client, objects: dict[str, Any]
) -> None:
    """A viewer gets 403 on every change and changes nothing."""
    before = snapshot(objects["org"])
    method = change_method(route)
    response = request(
        viewer_client, method, url(route, objects), route.data(objects) if method == "POST" else None
    )
    assert response.status_code == 403
    assert snapshot(objects["org"]) == before


@pytest.mark.parametrize("route", [r for r in ROUTES if r.owner_only], ids=str)
def test_admins_are_refused_owner_changes(route: Route, admin_user: Any, objects: dict[str, Any]) -> None:
    client = Client()
    client.force_login(admin_user, backend="workspaces.backends.EmailBackend")
    assert client.get(url(route, objects)).status_code == 200
    assert client.post(url(route, objects), route.data(objects)).status_code == 403


@pytest.mark.parametrize("route", [r for r in ROUTES if not r.change], ids=str)
def test_viewers_can_look(route: Route, viewer_client: Client, objects: dict[str, Any]) -> None:
    assert viewer_client.get(url(route, objects)).status_code == 200


@pytest.mark.parametrize("route", OBJECT_ROUTES, ids=str)
def test_outsiders_get_404(route: Route, outsider_client: Client, objects: dict[str, Any]) -> None:
    """Another organization's objects do not exist for an outsider, whatever the method."""
    before = snapshot(objects["org"])
    for method in route.methods:
        response = request(
            outsider_client, method, url(route, objects), route.data(objects) if method == "POST" else None
        )
        assert response.status_code == 404, method
    assert snapshot(objects["org"]) == before


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_wrong_method_is_405(route: Route, owner_client: Client, objects: dict[str, Any]) -> None:
    wrong = "POST" if "POST" not in route.methods else "PUT"
    assert request(owner_client, wrong, url(route, objects)).status_code == 405


@pytest.mark.parametrize("route", OBJECT_ROUTES, ids=str)
def test_unknown_id_is_404(route: Route, owner_client: Client, objects: dict[str, Any]) -> None:
    assert owner_client.get(url(route, objects, pk=987654)).status_code == 404


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_signed_out_visitors_are_sent_to_sign_in(
    route: Route, client: Client, objects: dict[str, Any]
) -> None:
    response = client.get(url(route, objects))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("route", [r for r in CHANGES if "POST" in r.methods], ids=str)
def test_changes_need_the_csrf_token(route: Route, owner: Any, objects: dict[str, Any]) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner, backend="workspaces.backends.EmailBackend")
    before = snapshot(objects["org"])
    assert browser.post(url(route, objects), route.data(objects)).status_code == 403
    assert snapshot(objects["org"]) == before


def snapshot(org: Organization) -> tuple[object, ...]:
    org.refresh_from_db()
    return (
        org.name,
        tuple(
            MqttClient.objects.in_org(org).values_list(
                "pk", "username", "enabled", "password_hash", "workspace"
            )
        ),
        tuple(Workspace.objects.in_org(org).values_list("pk", "name")),
    )
