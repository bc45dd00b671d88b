"""One access checklist for every dashboard URL, the ACL pages included: it works for the owner (each
change checked by its effect, not only its status), viewers get 403 on every change, outsiders get 404
on every object of another organization, a wrong method is 405, and an unknown id is 404. A refused
request changes nothing (`snapshot()`)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from clients.credentials import generate_password
from clients.models import AclRule, LiveSession, MqttClient
from tests.support.hint_fixtures import ControlListener
from workspaces import apikeys, invitations
from workspaces.models import ApiKey, Invitation, Membership, Organization, Workspace


@dataclass(frozen=True)
class Route:
    name: str
    # Which object the URL names: "client", "workspace", "session", "rule" or None.
    target: str | None = None
    # The URL's keyword for the target's id: "pk", or the ACL pages' "workspace_id" and "rule_id".
    key: str = "pk"
    change: bool = False
    methods: tuple[str, ...] = ("GET",)
    data: Callable[[dict[str, Any]], dict[str, Any]] = field(default=lambda objects: {})
    owner_only: bool = False
    # A page that htmx never swaps in whole (it only refreshes parts of it).
    full_page: bool = False
    # A successful POST without htmx: where it redirects (None: it answers 200 with a page, like the
    # copy-once secret), and what proves it did its work, given the objects as they were before and
    # the response. A form re-rendered with an error answers 200 too, so the status proves nothing.
    redirect: Callable[[dict[str, Any]], str] | None = None
    done: Callable[[dict[str, Any], Any], bool] | None = None

    def __str__(self) -> str:
        return self.name


def now(obj: Model) -> Any:
    """The row as the database has it now (None once it is deleted)."""
    return type(obj)._default_manager.filter(pk=obj.pk).first()


def rules_page(objects: dict[str, Any]) -> str:
    return f"{reverse('acl:rules')}?workspace={objects['workspace'].pk}"


def members_page(objects: dict[str, Any]) -> str:
    return reverse("workspaces:members")


def topics(workspace: Workspace) -> list[str]:
    return list(AclRule.objects.in_workspace(workspace).values_list("topic", flat=True))


RULE = {"client": "agent-*", "action": "publish", "topic": "sensors/${clientid}/#", "permission": "allow"}

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
        done=lambda o, r: MqttClient.objects.in_org(o["org"]).filter(username="agent-new").exists(),
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
        redirect=lambda o: reverse("clients:detail", kwargs={"pk": o["client"].pk}),
        done=lambda o, r: (
            (now(o["client"]).username, now(o["client"]).workspace) == ("agent-renamed", o["staging"])
        ),
    ),
    Route(
        "clients:reset-password",
        target="client",
        change=True,
        methods=("GET", "POST"),
        data=lambda o: {"password": generate_password()},
        done=lambda o, r: now(o["client"]).password_hash != o["client"].password_hash,
    ),
    Route(
        "clients:delete",
        target="client",
        change=True,
        methods=("GET", "POST"),
        redirect=lambda o: reverse("clients:list"),
        done=lambda o, r: now(o["client"]) is None,
    ),
    Route(
        "clients:session-disconnect",
        target="session",
        change=True,
        methods=("GET", "POST"),
        redirect=lambda o: reverse("clients:sessions"),
        # Ending the session is the broker's: the dashboard asks it to.
        done=lambda o, r: {"op": "disconnect-session", "session": o["session"].pk} in o["control"].messages,
    ),
    Route("workspaces:list"),
    Route(
        "workspaces:create",
        change=True,
        methods=("GET", "POST"),
        data=lambda o: {"name": "production"},
        redirect=lambda o: reverse("workspaces:list"),
        done=lambda o, r: Workspace.objects.in_org(o["org"]).filter(name="production").exists(),
    ),
    Route(
        "workspaces:rename",
        target="workspace",
        change=True,
        methods=("GET", "POST"),
        data=lambda o: {"name": "qa"},
        redirect=lambda o: reverse("workspaces:list"),
        done=lambda o, r: now(o["workspace"]).name == "qa",
    ),
    Route(
        "workspaces:delete",
        target="workspace",
        change=True,
        methods=("GET", "POST"),
        redirect=lambda o: reverse("workspaces:list"),
        done=lambda o, r: now(o["workspace"]) is None,
    ),
    Route(
        "workspaces:organization",
        change=True,
        owner_only=True,
        full_page=True,
        methods=("GET", "POST"),
        data=lambda o: {"name": "Renamed A"},
        redirect=lambda o: reverse("workspaces:organization"),
        done=lambda o, r: now(o["org"]).name == "Renamed A",
    ),
    Route("help-username-format", full_page=True),
    Route("help-first-connection", full_page=True),
    # The ACL pages: a workspace's rules ("first/#", then "second/#"), its default and the simulator.
    Route("acl:rules"),
    Route(
        "acl:rule-add",
        target="workspace",
        key="workspace_id",
        change=True,
        methods=("GET", "POST"),
        data=lambda o: RULE,
        redirect=rules_page,
        done=lambda o, r: topics(o["workspace"]) == ["first/#", "second/#", RULE["topic"]],
    ),
    Route(
        "acl:rule-edit",
        target="rule",
        key="rule_id",
        change=True,
        methods=("GET", "POST"),
        data=lambda o: RULE,
        redirect=rules_page,
        done=lambda o, r: (now(o["rule"]).client, now(o["rule"]).topic) == (RULE["client"], RULE["topic"]),
    ),
    Route(
        "acl:rule-move",
        target="rule",
        key="rule_id",
        change=True,
        methods=("POST",),
        data=lambda o: {"direction": "down"},
        redirect=rules_page,
        done=lambda o, r: topics(o["workspace"]) == ["second/#", "first/#"],
    ),
    Route(
        "acl:rule-delete",
        target="rule",
        key="rule_id",
        change=True,
        methods=("GET", "POST"),
        redirect=rules_page,
        done=lambda o, r: topics(o["workspace"]) == ["second/#"],
    ),
    Route(
        "acl:default",
        target="workspace",
        key="workspace_id",
        change=True,
        methods=("POST",),
        data=lambda o: {"default": "deny"},
        redirect=rules_page,
        done=lambda o, r: now(o["workspace"]).default_permission == "deny",
    ),
    # "Test access" changes nothing, so viewers may use it too.
    Route(
        "acl:simulate",
        target="workspace",
        key="workspace_id",
        methods=("GET", "POST"),
        data=lambda o: {"username": "agent-research-01", "action": "publish", "topic": "first/x"},
        done=lambda o, r: b'id="decision"' in r.content,
    ),
    # Members, invitations, lockouts, the audit log and your account (tests/teams has the rest).
    Route("workspaces:members"),
    Route(
        "workspaces:member-invite",
        change=True,
        methods=("GET", "POST"),
        data=lambda o: {"email": "new@a.example", "role": "viewer"},
        done=lambda o, r: Invitation.objects.filter(email="new@a.example", role="viewer").exists(),
    ),
    Route(
        "workspaces:member-role",
        target="member",
        change=True,
        owner_only=True,
        methods=("GET", "POST"),
        data=lambda o: {"role": "admin"},
        redirect=members_page,
        done=lambda o, r: now(o["member"]).role == "admin",
    ),
    Route(
        "workspaces:member-remove",
        target="member",
        change=True,
        owner_only=True,
        methods=("GET", "POST"),
        redirect=members_page,
        done=lambda o, r: now(o["member"]) is None,
    ),
    Route(
        "workspaces:invitation-revoke",
        target="invitation",
        change=True,
        methods=("GET", "POST"),
        redirect=members_page,
        done=lambda o, r: now(o["invitation"]).revoked is not None,
    ),
    Route(
        "workspaces:lockout-clear",
        target="lockout",
        change=True,
        owner_only=True,
        methods=("GET", "POST"),
        redirect=members_page,
        done=lambda o, r: now(o["lockout"]) is None,
    ),
    Route("workspaces:audit"),
    # API keys: the key is shown once in the POST's answer (no redirect), like a client's password.
    Route("workspaces:apikeys"),
    Route(
        "workspaces:apikey-create",
        change=True,
        methods=("GET", "POST"),
        data=lambda o: {"name": "deploy", "role": "admin", "expires_days": "30"},
        done=lambda o, r: (
            b'id="new-api-key"' in r.content
            and ApiKey.objects.filter(organization=o["org"], name="deploy").exists()
        ),
    ),
    Route(
        "workspaces:apikey-revoke",
        target="apikey",
        change=True,
        methods=("GET", "POST"),
        redirect=lambda o: reverse("workspaces:apikeys"),
        done=lambda o, r: now(o["apikey"]).revoked is not None,
    ),
    # Changing your password and signing out elsewhere are yours whatever your role: tests/teams.
    Route("account", full_page=True),
]
OBJECT_ROUTES = [r for r in ROUTES if r.target]
CHANGES = [r for r in ROUTES if r.change]


@pytest.fixture
def objects(
    org: Organization,
    a_client: MqttClient,
    staging: Workspace,
    live_session: LiveSession,
    control: ControlListener,
    viewer: Any,
) -> dict[str, Any]:
    rule = AclRule.objects.create(workspace=staging, position=0, topic="first/#")
    AclRule.objects.create(workspace=staging, position=1, topic="second/#")
    return {
        "org": org,
        "client": a_client,
        "workspace": staging,
        "staging": staging,
        "session": live_session,
        "rule": rule,
        # Where the broker would be: the hints the dashboard sends it.
        "control": control,
        **team_objects(org, viewer),
    }


def team_objects(org: Organization, viewer: Any) -> dict[str, Any]:
    """A member (the viewer), a pending invitation, a sign-in lockout and an API key of organization A."""
    invitation, _ = invitations.invite(organization=org, email="invited@a.example", role="viewer")
    lockout = AccessAttempt.objects.create(
        username="viewer@a.example", ip_address="198.51.100.7", user_agent="test", failures_since_start=5
    )
    api_key, _ = apikeys.create(organization=org, name="pipeline", role="admin")
    return {
        "member": Membership.objects.get(user=viewer),
        "invitation": invitation,
        "lockout": lockout,
        "apikey": api_key,
    }


def url(route: Route, objects: dict[str, Any], pk: int | None = None) -> str:
    """The URL of the route's target, or of `pk` in its place."""
    if route.target is None:
        return reverse(route.name)
    target = objects[route.target]
    kwargs = {route.key: target.pk if pk is None else pk}
    if route.target == "rule":  # a rule is found under its workspace
        kwargs["workspace_id"] = target.workspace_id
    return reverse(route.name, kwargs=kwargs)


def request(client: Client, method: str, path: str, data: dict[str, Any] | None = None) -> Any:
    return (
        client.generic(method, path)
        if method not in ("GET", "POST")
        else getattr(client, method.lower())(path, data or {})
    )


def form_data(route: Route, method: str, objects: dict[str, Any]) -> dict[str, Any] | None:
    return route.data(objects) if method == "POST" else None


def assert_works(client: Client, route: Route, objects: dict[str, Any]) -> None:
    """A GET shows the page (or dialog); a POST answers as the route says and does its work."""
    if "GET" in route.methods:
        assert client.get(url(route, objects)).status_code == 200
    if "POST" in route.methods:
        assert route.done is not None, f"{route}: say what proves a POST did its work"
        response = client.post(url(route, objects), route.data(objects))
        if route.redirect is None:
            assert response.status_code == 200
        else:
            assert (response.status_code, response["Location"]) == (302, route.redirect(objects))
        assert route.done(objects, response)


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_works_for_the_owner(route: Route, owner_client: Client, objects: dict[str, Any]) -> None:
    """Every page answers the owner, and every change does what it says."""
    assert_works(owner_client, route, objects)


@pytest.mark.parametrize("route", [r for r in CHANGES if not r.owner_only], ids=str)
def test_works_for_an_admin(route: Route, admin_client: Client, objects: dict[str, Any]) -> None:
    """An admin may make every change but the owner's own."""
    assert_works(admin_client, route, objects)


@pytest.mark.parametrize("route", [r for r in ROUTES if "GET" in r.methods], ids=str)
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
    """A viewer gets 403 on every change, and on the dialog leading to it, and changes nothing."""
    before = snapshot(objects["org"])
    # The organization page is for everyone to see; renaming it is the change.
    for method in ("POST",) if route.owner_only else route.methods:
        response = request(viewer_client, method, url(route, objects), form_data(route, method, objects))
        assert response.status_code == 403, method
    assert snapshot(objects["org"]) == before


@pytest.mark.parametrize("route", [r for r in ROUTES if r.owner_only], ids=str)
def test_admins_are_refused_owner_changes(
    route: Route, admin_client: Client, objects: dict[str, Any]
) -> None:
    before = snapshot(objects["org"])
    assert admin_client.get(url(route, objects)).status_code == 200
    assert admin_client.post(url(route, objects), route.data(objects)).status_code == 403
    assert snapshot(objects["org"]) == before


@pytest.mark.parametrize("route", [r for r in ROUTES if not r.change], ids=str)
def test_viewers_can_look(route: Route, viewer_client: Client, objects: dict[str, Any]) -> None:
    assert viewer_client.get(url(route, objects)).status_code == 200


@pytest.mark.parametrize("route", OBJECT_ROUTES, ids=str)
def test_outsiders_get_404(route: Route, outsider_client: Client, objects: dict[str, Any]) -> None:
    """Another organization's objects do not exist for an outsider, whatever the method."""
    before = snapshot(objects["org"])
    for method in route.methods:
        response = request(outsider_client, method, url(route, objects), form_data(route, method, objects))
        assert response.status_code == 404, method
    assert snapshot(objects["org"]) == before


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_wrong_method_is_405(route: Route, owner_client: Client, objects: dict[str, Any]) -> None:
    before = snapshot(objects["org"])
    for wrong in [m for m in ("GET", "POST", "PUT", "DELETE") if m not in route.methods]:
        assert request(owner_client, wrong, url(route, objects)).status_code == 405, wrong
    assert snapshot(objects["org"]) == before


@pytest.mark.parametrize("route", OBJECT_ROUTES, ids=str)
def test_unknown_id_is_404(route: Route, owner_client: Client, objects: dict[str, Any]) -> None:
    before = snapshot(objects["org"])
    for method in route.methods:
        response = request(
            owner_client, method, url(route, objects, pk=987654), form_data(route, method, objects)
        )
        assert response.status_code == 404, method
    assert snapshot(objects["org"]) == before


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_signed_out_visitors_are_sent_to_sign_in(
    route: Route, client: Client, objects: dict[str, Any]
) -> None:
    before = snapshot(objects["org"])
    for method in route.methods:
        response = request(client, method, url(route, objects), form_data(route, method, objects))
        assert response.status_code == 302, method
        assert response["Location"].startswith(reverse("login"))
    assert snapshot(objects["org"]) == before


@pytest.mark.parametrize("route", [r for r in CHANGES if "POST" in r.methods], ids=str)
def test_changes_need_the_csrf_token(route: Route, owner: Any, objects: dict[str, Any]) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner, backend="workspaces.backends.EmailBackend")
    before = snapshot(objects["org"])
    assert browser.post(url(route, objects), route.data(objects)).status_code == 403
    assert snapshot(objects["org"]) == before


def snapshot(org: Organization) -> tuple[object, ...]:
    """Everything a change could touch in the organization: its name, clients, workspaces and rules."""
    org.refresh_from_db()
    return (
        org.name,
        tuple(
            MqttClient.objects.in_org(org).values_list(
                "pk", "username", "enabled", "password_hash", "workspace"
            )
        ),
        tuple(Workspace.objects.in_org(org).values_list("pk", "name", "default_permission")),
        tuple(
            AclRule.objects.filter(workspace__organization=org).values_list(
                "pk", "workspace", "position", "client", "action", "topic", "permission"
            )
        ),
        tuple(Membership.objects.filter(organization=org).values_list("pk", "role").order_by("pk")),
        tuple(Invitation.objects.filter(organization=org).values_list("pk", "revoked").order_by("pk")),
        tuple(AccessAttempt.objects.values_list("pk", flat=True).order_by("pk")),
        tuple(ApiKey.objects.filter(organization=org).values_list("pk", "revoked").order_by("pk")),
    )
