"""API keys for the API tests: an admin and a viewer key of organization A, an expired and a revoked
admin key of A, and an admin key of organization B (the outsider's)."""

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from clients.models import AclRule, BrokerNode, LiveSession
from workspaces import apikeys
from workspaces.models import ApiKey, Organization, Workspace


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def make_key(organization: Organization, role: str = "admin", name: str = "pipeline") -> str:
    _, key = apikeys.create(organization=organization, name=name, role=role)
    return key


@pytest.fixture
def admin_key(org: Organization) -> str:
    return make_key(org, "admin", "deploy")


@pytest.fixture
def viewer_key(org: Organization) -> str:
    return make_key(org, "viewer", "dashboards")


@pytest.fixture
def expired_key(org: Organization) -> str:
    key = make_key(org, "admin", "old")
    ApiKey.objects.filter(key_hash=apikeys.key_hash(key)).update(
        expires=timezone.now() - timedelta(seconds=1)
    )
    return key


@pytest.fixture
def revoked_key(org: Organization) -> str:
    key = make_key(org, "admin", "leaked")
    apikeys.revoke(ApiKey.objects.get(key_hash=apikeys.key_hash(key)))
    return key


@pytest.fixture
def other_org_key(other_org: Organization) -> str:
    return make_key(other_org, "admin", "theirs")


class Api:
    """JSON calls to /api/v1/ with one Authorization header (or none)."""

    def __init__(self, authorization: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": authorization} if authorization is not None else {}

    def call(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        url = f"/api/v1{path}"
        if method == "GET":
            return self.client.get(url, query, headers=self.headers)
        return self.client.generic(
            method,
            url,
            data=b"" if body is None else json.dumps(body),
            content_type="application/json",
            headers=self.headers,
        )


@pytest.fixture
def api() -> Callable[[str | None], Api]:
    """api(key) calls with `Authorization: Bearer <key>`; api(None) with no header at all."""

    def make(key: str | None, scheme: str = "Bearer") -> Api:
        return Api(None if key is None else f"{scheme} {key}")

    return make


@pytest.fixture
def objects(org: Organization, make_client: Callable[..., Any], control: Any) -> dict[str, Any]:
    """What the endpoints act on in organization A: a client in a second workspace ("staging", with
    two rules), a live session of it, and the listener standing where the broker would be."""
    staging = Workspace.objects.create(organization=org, name="staging")
    client, _ = make_client(org, "agent-research-01", workspace=staging)
    AclRule.objects.create(workspace=staging, position=0, topic="first/#")
    AclRule.objects.create(workspace=staging, position=1, topic="second/#")
    session = LiveSession.objects.create(
        node=BrokerNode.objects.create(pid=1),
        client=client,
        mqtt_client_id="agent-research-01",
        remote_address="192.0.2.7:50312",
    )
    return {"org": org, "client": client, "workspace": staging, "session": session, "control": control}
