"""schemathesis against /api/v1/openapi.json: a few hundred generated requests with an admin key
(about 15 per operation, half of them aimed at objects that exist), and not one server error or
response that breaks the API's own description (status, content type, body and headers)."""

from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.core.result import Err, Ok
from schemathesis.specs.openapi import checks as openapi_checks

from clients.models import BrokerNode, LiveSession
from clients.provisioning import create_client
from tests.api.conftest import make_key
from workspaces.models import Organization, Workspace
from workspaces.onboarding import create_organization, find_or_create_user

EXAMPLES_PER_OPERATION = 15
# No server error, and every response as described: its status, content type, headers and body; and
# a request without the key refused. Not "positive data acceptance": a request the description allows
# may still be refused with 422 for what no schema says (a username taken, a workspace that is not
# there, a topic the ACL language rejects), in the dashboard's words.
CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.ignored_auth,
]
# The ids of the objects the fixture made, for the path parameters of the same names.
EXISTING: dict[str, int] = {}


@schemathesis.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
    """Half the time, an id that exists: random ids alone would only ever meet 404."""
    if not path_parameters:
        return st.just(path_parameters)
    real = {name: EXISTING[name] for name in path_parameters if name in EXISTING}
    return st.sampled_from([path_parameters, {**path_parameters, **real}])


@pytest.fixture
def key(transactional_db: None, settings: Any) -> str:
    # Every generated request counts against the key; the limit is tested on its own.
    settings.API_RATE_LIMIT = 1_000_000
    organization: Organization = create_organization(owner=find_or_create_user("fuzz@a.example"), name="A")
    staging = Workspace.objects.create(organization=organization, name="staging")
    client, _ = create_client(organization=organization, username="agent-01", workspace=staging)
    session = LiveSession.objects.create(
        node=BrokerNode.objects.create(pid=1), client=client, mqtt_client_id="c"
    )
    EXISTING.update(client_id=client.pk, workspace_id=staging.pk, session_id=session.pk)
    return make_key(organization, "admin", "fuzz")


def test_the_api_keeps_to_its_own_description(key: str) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    results = list(schema.get_all_operations())
    assert [r.err() for r in results if isinstance(r, Err)] == []  # the description itself is valid
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    sent: dict[str, int] = {}
    failures: dict[str, str] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            sent[case.operation.label] = sent.get(case.operation.label, 0) + 1
            case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)

        try:
            fuzz()
        except Exception as exc:  # every operation's findings, not only the first
            failures[operation.label] = str(exc)
    print(f"schemathesis: {sum(sent.values())} requests over {len(operations)} operations")
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    assert len(operations) == 19 and sum(sent.values()) >= 200
