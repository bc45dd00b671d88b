"""Objects the view tests act on: a client, a second workspace and a live session, all in organization A."""

from collections.abc import Callable

import pytest

from clients.models import BrokerNode, LiveSession, MqttClient
from workspaces.models import Organization, Workspace


@pytest.fixture
def a_client(org: Organization, make_client: Callable[..., tuple[MqttClient, str]]) -> MqttClient:
    client, _ = make_client(org, "agent-research-01")
    return client


@pytest.fixture
def staging(org: Organization) -> Workspace:
    return Workspace.objects.create(organization=org, name="staging")


@pytest.fixture
def live_session(a_client: MqttClient) -> LiveSession:
    """A session as the broker records it, on a broker whose heartbeat is fresh."""
    node = BrokerNode.objects.create(pid=1)
    return LiveSession.objects.create(
        node=node, client=a_client, mqtt_client_id="agent-research-01", remote_address="192.0.2.7:50312"
    )
