"""What the API refuses, and how it says so: the dashboard's validation messages with the field they
concern (422, changing nothing), the default workspace (409), the per-key rate limit (429 with
Retry-After); and the lists' search, filters and paging."""

from collections.abc import Callable
from typing import Any

import pytest

from clients.models import AclRule, MqttClient
from tests.api.conftest import Api, make_key
from workspaces.models import AuditEntry, Organization, Workspace

MakeApi = Callable[..., Api]


@pytest.fixture
def admin(api: MakeApi, admin_key: str) -> Api:
    return api(admin_key)


def refused(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.content
    return {e["field"]: e["message"] for e in response.json()["errors"]}


def test_a_refused_create_names_the_field_in_the_dashboards_words(admin: Api, org: Organization) -> None:
    assert admin.call("POST", "/clients", {"username": "agent-01"}).status_code == 201
    entries = AuditEntry.objects.count()
    taken = admin.call("POST", "/clients", {"username": "AGENT-01"})
    assert taken.json()["detail"] == "A client with this username already exists in this organization."
    assert refused(taken) == {"username": "A client with this username already exists in this organization."}
    assert refused(admin.call("POST", "/clients", {"username": "bad name"})) == {
        "username": "Use only letters, digits and hyphens (no @, spaces or dots), starting and ending with a "
        "letter or digit, at most 64 characters."
    }
    assert list(refused(admin.call("POST", "/clients", {"username": "agent-02", "password": "short"}))) == [
        "password"
    ]
    assert list(refused(admin.call("POST", "/clients", {"description": "no username"}))) == ["username"]
    assert list(
        refused(admin.call("POST", "/clients", {"username": "agent-03", "description": "a\x00b"}))
    ) == ["description"]
    assert MqttClient.objects.count() == 1
    assert AuditEntry.objects.count() == entries


def test_a_workspace_of_another_organization_is_refused(
    admin: Api, org: Organization, other_org: Organization
) -> None:
    theirs = other_org.default_workspace.pk
    assert list(
        refused(admin.call("POST", "/clients", {"username": "agent-01", "workspace_id": theirs}))
    ) == ["workspace_id"]
    made = admin.call("POST", "/clients", {"username": "agent-01"}).json()
    assert list(refused(admin.call("PATCH", f"/clients/{made['id']}", {"workspace_id": theirs}))) == [
        "workspace_id"
    ]
    assert MqttClient.objects.get().workspace == org.default_workspace


def test_workspaces_refuse_a_taken_name_and_deleting_the_default(admin: Api, org: Organization) -> None:
    assert admin.call("POST", "/workspaces", {"name": "staging"}).status_code == 201
    assert refused(admin.call("POST", "/workspaces", {"name": "Staging"})) == {
        "name": "A workspace named 'Staging' already exists."
    }
    default = org.default_workspace
    response = admin.call("DELETE", f"/workspaces/{default.pk}")
    assert response.status_code == 409
    assert response.json() == {"detail": "The default workspace cannot be deleted.", "errors": []}
    assert Workspace.objects.in_org(org).count() == 2


def test_a_bad_policy_changes_nothing_and_names_the_rule(admin: Api, org: Organization) -> None:
    workspace = org.default_workspace
    AclRule.objects.create(workspace=workspace, position=0, topic="kept/#")
    good = {"client": "*", "action": "all", "topic": "a/#", "permission": "allow"}
    bad = {**good, "topic": "a/#/b"}
    response = admin.call("PUT", f"/workspaces/{workspace.pk}/acl", {"default": "deny", "rules": [good, bad]})
    errors = refused(response)
    assert list(errors) == ["rules[1].topic"]
    assert response.json()["detail"].startswith("rule 2: topic: ")
    assert response.json()["detail"].endswith("Nothing was changed.")
    assert admin.call("GET", f"/workspaces/{workspace.pk}/acl").json() == {
        "default": "allow",
        "rules": [{"client": "*", "action": "all", "topic": "kept/#", "permission": "allow"}],
    }


def test_test_access_answers_with_the_deciding_rule_or_the_default(admin: Api, org: Organization) -> None:
    workspace = org.default_workspace
    policy = {
        "default": "deny",
        "rules": [
            {
                "client": "agent-*",
                "action": "publish",
                "topic": "sensors/${username}/#",
                "permission": "allow",
            }
        ],
    }
    assert admin.call("PUT", f"/workspaces/{workspace.pk}/acl", policy).status_code == 200
    rule = AclRule.objects.get()
    check = f"/workspaces/{workspace.pk}/acl/check"
    allowed = admin.call(
        "POST", check, {"username": "agent-7", "action": "publish", "topic": "sensors/agent-7/t"}
    )
    assert allowed.json() == {"allowed": True, "reason": allowed.json()["reason"], "rule_id": rule.pk}
    denied = admin.call(
        "POST", check, {"username": "agent-7", "action": "publish", "topic": "sensors/agent-8/t"}
    )
    assert (denied.json()["allowed"], denied.json()["rule_id"]) == (False, None)
    assert "default" in denied.json()["reason"]
    assert list(
        refused(admin.call("POST", check, {"username": "a@b", "action": "publish", "topic": "x"}))
    ) == ["username"]


def test_clients_are_searched_filtered_and_paged(admin: Api, org: Organization) -> None:
    staging = admin.call("POST", "/workspaces", {"name": "staging"}).json()["id"]
    for name in ("agent-a", "agent-b", "sensor-c"):
        admin.call(
            "POST", "/clients", {"username": name, "workspace_id": staging if name == "sensor-c" else None}
        )
    first = admin.call("GET", "/clients", page_size=2).json()
    assert ([c["username"] for c in first["items"]], first["count"], first["pages"]) == (
        ["agent-a", "agent-b"],
        3,
        2,
    )
    assert [c["username"] for c in admin.call("GET", "/clients", page_size=2, page=2).json()["items"]] == [
        "sensor-c"
    ]
    assert [c["username"] for c in admin.call("GET", "/clients", search="GENT").json()["items"]] == [
        "agent-a",
        "agent-b",
    ]
    assert [c["username"] for c in admin.call("GET", "/clients", workspace_id=staging).json()["items"]] == [
        "sensor-c"
    ]
    assert list(refused(admin.call("GET", "/clients", page_size=0))) == ["page_size"]


def test_the_audit_trail_is_filtered_and_paged(admin: Api, org: Organization) -> None:
    for name in ("agent-a", "agent-b", "agent-c"):
        admin.call("POST", "/clients", {"username": name})
    page = admin.call("GET", "/audit", action="client.created", limit=2).json()
    assert [e["target_name"].split("@")[0] for e in page["items"]] == ["agent-c", "agent-b"]
    rest = admin.call("GET", "/audit", action="client.created", limit=2, before=page["next_before"]).json()
    assert ([e["target_name"].split("@")[0] for e in rest["items"]], rest["next_before"]) == (
        ["agent-a"],
        None,
    )


def test_requests_per_key_are_limited_with_retry_after(
    api: MakeApi, admin_key: str, org: Organization, settings: Any
) -> None:
    settings.API_RATE_LIMIT = 3
    caller = api(admin_key)
    assert [caller.call("GET", "/key").status_code for _ in range(3)] == [200, 200, 200]
    over = caller.call("POST", "/clients", {"username": "agent-late"})
    assert over.status_code == 429
    assert 1 <= int(over["Retry-After"]) <= 60
    assert over.json()["detail"].startswith("Too many requests")
    assert not MqttClient.objects.exists()
    # Per key: another key of the same organization is not held back.
    assert api(make_key(org, "viewer", "other")).call("GET", "/key").status_code == 200


def test_a_change_says_whether_the_broker_was_asked(
    transactional_db: None, admin: Api, org: Organization, control: Any
) -> None:
    """A new description needs no revocation: nothing ended and the broker was not asked. Disabling
    asks it, and the answer carries what it said."""
    made = admin.call("POST", "/clients", {"username": "agent-01"}).json()
    described = admin.call("PATCH", f"/clients/{made['id']}", {"description": "rack 4"}).json()
    assert (described["sessions_ended"], described["broker_reachable"]) == (0, None)
    assert control.messages == []
    # Committed for real (transactional_db): the hint goes once the change commits, before the answer.
    disabled = admin.call("PATCH", f"/clients/{made['id']}", {"enabled": False}).json()
    assert (disabled["sessions_ended"], disabled["broker_reachable"]) == (0, True)
    assert control.messages == [{"op": "credentials-changed", "ids": [made["id"]]}]
    nothing_live = admin.call("POST", f"/clients/{made['id']}/disconnect").json()
    assert nothing_live == {"sessions_ended": 0, "broker_reachable": None}
