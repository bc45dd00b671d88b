"""One checklist for every API endpoint, like the dashboard's: each works with an admin key (checked
by its effect and its audit entry, not only its status); a viewer key reads but gets 403 on every
change; a missing, malformed, unknown, expired or revoked key gets the same 401 everywhere; another
organization's key gets 404 for every object here and sees none of them in its lists; an unknown id
is 404. A refused request changes nothing (`snapshot()`)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client

from clients.models import AclRule, LiveSession, MqttClient
from tests.api.conftest import Api
from workspaces.models import ApiKey, AuditEntry, Organization, Workspace

MakeApi = Callable[..., Api]
RULE = {"client": "agent-*", "action": "publish", "topic": "sensors/${clientid}/#", "permission": "allow"}


@dataclass(frozen=True)
class Endpoint:
    method: str
    # {client}, {workspace} and {session} stand for the objects' ids.
    path: str
    body: Any = None
    change: bool = False
    status: int = 200
    # What proves it did its work, given the objects and the response's JSON.
    done: Callable[[dict[str, Any], Any], bool] = field(default=lambda o, j: True)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def target(self) -> str | None:
        return next((t for t in ("client", "workspace", "session") if f"{{{t}}}" in self.path), None)

    def url(self, objects: dict[str, Any], unknown: int | None = None) -> str:
        ids = {name: unknown or objects[name].pk for name in ("client", "workspace", "session")}
        return self.path.format(**ids)


def now(obj: Any) -> Any:
    return type(obj)._default_manager.filter(pk=obj.pk).first()


def topics(workspace: Workspace) -> list[str]:
    return list(AclRule.objects.in_workspace(workspace).values_list("topic", flat=True))


def hinted(objects: dict[str, Any]) -> bool:
    """The broker (here its stand-in) was asked to drop the live session."""
    return {"op": "disconnect-session", "session": objects["session"].pk} in objects["control"].messages


ENDPOINTS = [
    Endpoint("GET", "/key", done=lambda o, j: (j["name"], j["role"]) == ("deploy", "admin")),
    Endpoint(
        "GET", "/clients", done=lambda o, j: [c["username"] for c in j["items"]] == ["agent-research-01"]
    ),
    Endpoint(
        "POST",
        "/clients",
        body=lambda o: {"username": "agent-new", "workspace_id": o["workspace"].pk},
        change=True,
        status=201,
        done=lambda o, j: MqttClient.objects.get(username="agent-new").check_password(j["password"]),
    ),
    Endpoint("GET", "/clients/{client}", done=lambda o, j: j["full_username"] == o["client"].full_username),
    Endpoint(
        "PATCH",
        "/clients/{client}",
        body=lambda o: {"username": "agent-renamed", "description": "moved", "enabled": False},
        change=True,
        done=lambda o, j: (
            (now(o["client"]).username, now(o["client"]).enabled, j["username"])
            == ("agent-renamed", False, "agent-renamed")
        ),
    ),
    Endpoint(
        "POST",
        "/clients/{client}/reset-password",
        body=lambda o: {},
        change=True,
        done=lambda o, j: now(o["client"]).check_password(j["password"]),
    ),
    Endpoint(
        "DELETE",
        "/clients/{client}",
        change=True,
        done=lambda o, j: now(o["client"]) is None and j["deleted"],
    ),
    Endpoint(
        "GET", "/clients/{client}/sessions", done=lambda o, j: [s["id"] for s in j] == [o["session"].pk]
    ),
    Endpoint("POST", "/clients/{client}/disconnect", change=True, done=lambda o, j: hinted(o)),
    Endpoint("GET", "/sessions", done=lambda o, j: [s["id"] for s in j["items"]] == [o["session"].pk]),
    Endpoint("POST", "/sessions/{session}/disconnect", change=True, done=lambda o, j: hinted(o)),
    Endpoint("GET", "/workspaces", done=lambda o, j: [w["name"] for w in j] == ["Default", "staging"]),
    Endpoint(
        "POST",
        "/workspaces",
        body=lambda o: {"name": "production"},
        change=True,
        status=201,
        done=lambda o, j: Workspace.objects.in_org(o["org"]).filter(name="production", pk=j["id"]).exists(),
    ),
    Endpoint(
        "PATCH",
        "/workspaces/{workspace}",
        body=lambda o: {"name": "qa"},
        change=True,
        done=lambda o, j: now(o["workspace"]).name == "qa",
    ),
    Endpoint(
        "DELETE",
        "/workspaces/{workspace}",
        change=True,
        done=lambda o, j: now(o["workspace"]) is None and j["clients_deleted"] == ["agent-research-01"],
    ),
    Endpoint(
        "GET",
        "/workspaces/{workspace}/acl",
        done=lambda o, j: [r["topic"] for r in j["rules"]] == ["first/#", "second/#"],
    ),
    Endpoint(
        "PUT",
        "/workspaces/{workspace}/acl",
        body=lambda o: {"default": "deny", "rules": [RULE]},
        change=True,
        done=lambda o, j: (
            topics(o["workspace"]) == [RULE["topic"]] and now(o["workspace"]).default_permission == "deny"
        ),
    ),
    # Test access changes nothing, so viewer keys may use it too.
    Endpoint(
        "POST",
        "/workspaces/{workspace}/acl/check",
        body=lambda o: {"username": "agent-research-01", "action": "publish", "topic": "first/x"},
        done=lambda o, j: j["allowed"] and j["reason"].startswith("rule 1"),
    ),
    Endpoint("GET", "/audit", done=lambda o, j: any(e["action"] == "client.created" for e in j["items"])),
]
CHANGES = [e for e in ENDPOINTS if e.change]
OBJECT_ENDPOINTS = [e for e in ENDPOINTS if e.target]


def call(api: Api, endpoint: Endpoint, objects: dict[str, Any], unknown: int | None = None) -> Any:
    body = endpoint.body(objects) if callable(endpoint.body) else None
    if endpoint.method != "GET" and body is None:
        body = {} if endpoint.method in ("POST", "PUT", "PATCH") else None
    return api.call(endpoint.method, endpoint.url(objects, unknown), body)


def snapshot(org: Organization) -> tuple[object, ...]:
    """Everything a change could touch in the organization."""
    org.refresh_from_db()
    return (
        tuple(
            MqttClient.objects.in_org(org).values_list(
                "pk", "username", "enabled", "password_hash", "workspace", "description"
            )
        ),
        tuple(Workspace.objects.in_org(org).values_list("pk", "name", "default_permission")),
        tuple(
            AclRule.objects.filter(workspace__organization=org).values_list(
                "pk", "position", "topic", "permission"
            )
        ),
        tuple(LiveSession.objects.values_list("pk", flat=True)),
        tuple(ApiKey.objects.in_org(org).values_list("pk", "revoked")),
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_works_with_an_admin_key(
    endpoint: Endpoint, api: MakeApi, admin_key: str, objects: dict[str, Any]
) -> None:
    """Every endpoint answers an admin key and does what it says; every change is audited with the
    key as the actor and the caller's address."""
    latest = AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first()
    response = call(api(admin_key), endpoint, objects)
    assert response.status_code == endpoint.status, response.content
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert "no-store" in response["Cache-Control"]
    assert endpoint.done(objects, response.json())
    if endpoint.change:
        entries = AuditEntry.objects.filter(pk__gt=latest or 0)
        assert entries.exists()
        assert {(e.actor_kind, e.actor, e.source_address) for e in entries} == {
            ("apikey", f"apikey:deploy ({admin_key[:12]})", "127.0.0.1")
        }


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if not e.change], ids=str)
def test_viewer_keys_read(endpoint: Endpoint, api: MakeApi, viewer_key: str, objects: dict[str, Any]) -> None:
    response = call(api(viewer_key), endpoint, objects)
    assert response.status_code == 200
    if endpoint.path != "/key":
        assert endpoint.done(objects, response.json())


@pytest.mark.parametrize("endpoint", CHANGES, ids=str)
def test_viewer_keys_are_refused_every_change(
    endpoint: Endpoint, api: MakeApi, viewer_key: str, objects: dict[str, Any]
) -> None:
    before = snapshot(objects["org"])
    response = call(api(viewer_key), endpoint, objects)
    assert response.status_code == 403
    assert response.json()["detail"] == "This is a viewer key: it can read but not change anything."
    assert snapshot(objects["org"]) == before
    assert objects["control"].messages == []


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_keys_that_do_not_work_all_get_the_same_401(
    endpoint: Endpoint,
    api: MakeApi,
    admin_key: str,
    expired_key: str,
    revoked_key: str,
    objects: dict[str, Any],
) -> None:
    """Missing, malformed, unknown, expired and revoked keys: one status and one body, so a caller
    learns nothing about which it was; nothing changes."""
    unknown = "csk_" + "A" * 43
    callers = {
        "missing": api(None),
        "empty": api(""),
        "malformed": api("not-a-key"),
        "truncated": api(admin_key[:-1]),
        "another scheme": api(admin_key, scheme="Token"),
        "unknown": api(unknown),
        "expired": api(expired_key),
        "revoked": api(revoked_key),
    }
    before = snapshot(objects["org"])
    answers = {}
    for name, caller in callers.items():
        response = call(caller, endpoint, objects)
        assert response.status_code == 401, name
        assert response["WWW-Authenticate"] == 'Bearer realm="CloudSignal API"'
        answers[name] = response.content
    assert len(set(answers.values())) == 1, answers
    assert snapshot(objects["org"]) == before


@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS, ids=str)
def test_another_organizations_key_gets_404(
    endpoint: Endpoint, api: MakeApi, other_org_key: str, objects: dict[str, Any]
) -> None:
    """Organization A's objects do not exist for B's admin key, whatever the method."""
    before = snapshot(objects["org"])
    response = call(api(other_org_key), endpoint, objects)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "errors": []}
    assert snapshot(objects["org"]) == before


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if not e.target and e.method == "GET"], ids=str)
def test_another_organizations_key_sees_none_of_its_objects(
    endpoint: Endpoint, api: MakeApi, other_org_key: str, objects: dict[str, Any]
) -> None:
    body = call(api(other_org_key), endpoint, objects).content.decode()
    for name in ("agent-research-01", "staging", "Organization A", str(objects["org"].pk)):
        assert name not in body


@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS, ids=str)
def test_unknown_id_is_404(endpoint: Endpoint, api: MakeApi, admin_key: str, objects: dict[str, Any]) -> None:
    before = snapshot(objects["org"])
    assert call(api(admin_key), endpoint, objects, unknown=987654).status_code == 404
    assert snapshot(objects["org"]) == before


def test_the_checklist_covers_every_operation(client: Client, db: None) -> None:
    """A new endpoint cannot go untested: every operation of the OpenAPI description is listed above."""
    described = {
        f"{method.upper()} {path.removeprefix('/api/v1')}"
        for path, operations in client.get("/api/v1/openapi.json").json()["paths"].items()
        for method in operations
    }
    listed = {f"{e.method} {e.path}" for e in ENDPOINTS}
    placeholders = {"{client}": "{client_id}", "{workspace}": "{workspace_id}", "{session}": "{session_id}"}
    for short, long in placeholders.items():
        listed = {e.replace(short, long) for e in listed}
    assert described == listed
