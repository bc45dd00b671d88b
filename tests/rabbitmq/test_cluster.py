"""The RabbitMQ engine against a real two-node cluster, with paho devices: the same credentials, ACLs
and instant revocation as the embedded broker. One cluster serves the session (conftest.py); the
test that stops a node comes last in this file."""

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from acl.language import ALLOW, DENY, PUBLISH, RuleSpec
from clients.models import AclRule, MqttClient
from clients.provisioning import delete_workspace
from cloudsignal.rabbitmq.engine import vhost_of
from cloudsignal.rabbitmq.reconcile import reconcile
from tests.broker.devices import Device
from tests.rabbitmq.conftest import RunningCluster, sync_vhosts
from tests.support.waiting import wait_for
from workspaces.models import Organization, Workspace

# One worker runs them all, so `make test` starts one cluster, not one per worker.
pytestmark = [pytest.mark.cluster, pytest.mark.xdist_group("rabbitmq-cluster")]

PASSWORD = "correct-horse-battery-9"


@pytest.fixture
def tenant(
    rabbitmq: RunningCluster, org: Organization, make_client: Callable[..., tuple[MqttClient, str]]
) -> Callable[..., MqttClient]:
    """Make a credential of organization A (password PASSWORD) whose workspace has its vhost."""

    def make(username: str, workspace: Workspace | None = None) -> MqttClient:
        client, _ = make_client(org, username, password=PASSWORD, workspace=workspace)
        sync_vhosts()
        return client

    return make


@pytest.fixture
def device(devices: Callable[..., Device]) -> Callable[..., Device]:
    """A device logging in as `client` (its `ws-<id>:` username) on a node's MQTT port."""

    def make(port: int, client: MqttClient, password: str = PASSWORD, username: str | None = None) -> Device:
        return devices(port, username or client.device_username, password, f"d-{uuid.uuid4().hex[:10]}")

    return make


def test_a_device_logs_in_on_either_node_and_messages_cross_nodes(
    rabbitmq: RunningCluster, tenant: Callable[..., MqttClient], device: Callable[..., Device]
) -> None:
    """Either node accepts the credential, and a message published on one reaches a subscriber on the
    other."""
    client = tenant("sensor-1")
    port_a, port_b = rabbitmq.mqtt_ports
    on_a, on_b = device(port_a, client), device(port_b, client)
    assert on_a.connect() == 0
    assert on_b.connect() == 0
    assert on_b.subscribe("sensors/+", 1) == 1
    on_a.publish("sensors/t", b"21.5", qos=1)
    message = on_b.expect()
    assert (message.topic, message.payload) == ("sensors/t", b"21.5")


def test_a_wrong_password_a_foreign_workspace_and_other_spellings_are_refused(
    rabbitmq: RunningCluster,
    org: Organization,
    tenant: Callable[..., MqttClient],
    device: Callable[..., Device],
) -> None:
    """Only the credential's own workspace, with its password and its exact username, logs in."""
    other = Workspace.objects.create(organization=org, name="Other")
    client = tenant("sensor-1")
    port = rabbitmq.mqtt_ports[0]
    assert device(port, client, password="wrong-password-123").connect() != 0
    assert device(port, client, username=f"{vhost_of(other.pk)}:{client.full_username}").connect() != 0
    # Without the vhost prefix RabbitMQ picks its default vhost, which no credential may use.
    assert device(port, client, username=client.full_username).connect() != 0
    # RabbitMQ closes sessions by the exact username: another spelling would escape revocation.
    assert device(port, client, username=client.device_username.upper().replace("WS-", "ws-")).connect() != 0
    assert device(port, client).connect() == 0


def test_two_workspaces_with_the_same_topics_stay_apart(
    rabbitmq: RunningCluster,
    org: Organization,
    tenant: Callable[..., MqttClient],
    device: Callable[..., Device],
) -> None:
    """A workspace is a vhost: the same topic in another workspace is another topic."""
    other = Workspace.objects.create(organization=org, name="Other")
    mine, theirs = tenant("sensor-1"), tenant("sensor-2", workspace=other)
    port_a, port_b = rabbitmq.mqtt_ports
    listener, outsider = device(port_a, mine), device(port_b, theirs)
    assert listener.connect() == 0
    assert outsider.connect() == 0
    assert listener.subscribe("sensors/#", 1) == 1
    assert outsider.subscribe("sensors/#", 1) == 1
    outsider.publish("sensors/t", b"theirs", qos=1)
    device_a = device(port_b, mine)
    assert device_a.connect() == 0
    device_a.publish("sensors/t", b"mine", qos=1)
    assert [m.payload for m in listener.flush()] == [b"mine"]
    assert [m.payload for m in outsider.flush()] == [b"theirs"]


def test_a_delete_in_the_dashboard_ends_sessions_on_both_nodes_within_a_second(
    rabbitmq: RunningCluster,
    owner_client: Client,
    tenant: Callable[..., MqttClient],
    device: Callable[..., Device],
) -> None:
    """Deleting a client ends its sessions on every node at once, the admin is told how many, and
    the device cannot log in again."""
    client = tenant("sensor-1")
    port_a, port_b = rabbitmq.mqtt_ports
    on_a, on_b = device(port_a, client), device(port_b, client)
    assert on_a.connect() == 0
    assert on_b.connect() == 0
    started = time.monotonic()
    owner_client.post(f"/clients/{client.pk}/delete/")
    assert on_a.wait_disconnected(1.0)
    assert on_b.wait_disconnected(max(0.0, 1.0 - (time.monotonic() - started)))
    page = owner_client.get("/clients/").content.decode()
    assert f"Deleted {client.full_username}. 2 live sessions were disconnected." in page
    assert device(port_b, client).connect() != 0


def test_disabling_a_client_ends_its_sessions_and_refuses_it(
    rabbitmq: RunningCluster, tenant: Callable[..., MqttClient], device: Callable[..., Device]
) -> None:
    """disable() (and every other revoking verb) reaches the cluster through the management API."""
    client = tenant("sensor-1")
    live = device(rabbitmq.mqtt_ports[1], client)
    assert live.connect() == 0
    ended = client.disable()
    assert live.wait_disconnected(1.0)
    assert (ended.broker_reachable, ended.count) == (True, 1)
    assert device(rabbitmq.mqtt_ports[0], client).connect() != 0


def test_an_acl_change_ends_the_sessions_it_affects(
    rabbitmq: RunningCluster, tenant: Callable[..., MqttClient], device: Callable[..., Device]
) -> None:
    """RabbitMQ caches topic decisions per connection, so a rule change ends the sessions of the
    clients it names (and no other), and their next login gets the new rules."""
    agent, other = tenant("agent-1"), tenant("logger-1")
    port_a, port_b = rabbitmq.mqtt_ports
    agent_device, other_device = device(port_a, agent), device(port_b, other)
    assert agent_device.connect() == 0
    assert other_device.connect() == 0
    AclRule.objects.append(agent.workspace, RuleSpec("agent-*", PUBLISH, "alarms/#", DENY))
    assert agent_device.wait_disconnected(2.0)
    assert other_device.flush() == []  # still connected: a round trip through the broker
    assert not other_device.disconnected.is_set()
    again = device(port_b, agent)
    assert again.connect() == 0
    again.publish("alarms/fire", b"x")
    # A denied PUBLISH closes the connection in RabbitMQ.
    assert again.wait_disconnected(2.0)


def test_a_subscription_is_granted_only_when_every_topic_in_it_is_allowed(
    rabbitmq: RunningCluster, tenant: Callable[..., MqttClient], device: Callable[..., Device]
) -> None:
    """RabbitMQ never checks a delivery on its own topic, so a wildcard with a denied topic inside is
    refused as a whole, and the exact allowed filter is granted."""
    client = tenant("sensor-1")
    AclRule.objects.append(client.workspace, RuleSpec("*", "subscribe", "secrets/#", DENY))
    AclRule.objects.append(client.workspace, RuleSpec("*", "subscribe", "public/#", ALLOW))
    allowed = device(rabbitmq.mqtt_ports[0], client)
    assert allowed.connect() == 0
    assert allowed.subscribe("public/#", 1) == 1
    wildcard = device(rabbitmq.mqtt_ports[0], client)
    assert wildcard.connect() == 0
    wildcard.client.subscribe("#", 1)
    assert wildcard.wait_disconnected(2.0)


def test_the_sessions_page_lists_cluster_sessions_and_disconnects_one(
    rabbitmq: RunningCluster,
    owner_client: Client,
    tenant: Callable[..., MqttClient],
    device: Callable[..., Device],
) -> None:
    """The Sessions page reads RabbitMQ's connection list (a few seconds late) and its Disconnect
    closes that connection on whichever node holds it."""
    client = tenant("sensor-1")
    live = device(rabbitmq.mqtt_ports[1], client)
    assert live.connect() == 0
    client_id = live.client._client_id.decode()

    def listed() -> Any:
        page = owner_client.get("/clients/sessions/")
        return client_id in page.content.decode() and page.context["sessions"]

    sessions = wait_for(listed, timeout=15.0, interval=0.5)
    owner_client.post(f"/clients/sessions/{sessions[0].pk}/disconnect/")
    assert live.wait_disconnected(2.0)
    page = owner_client.get("/clients/sessions/").content.decode()
    assert f"Disconnected {client_id}. 1 live session was disconnected." in page


def test_a_workspace_gets_a_vhost_and_loses_it_with_its_deletion(
    rabbitmq: RunningCluster, org: Organization
) -> None:
    """Workspaces created and deleted in the dashboard create and delete their vhosts."""
    management = rabbitmq.cluster.management()
    workspace = Workspace.objects.create(organization=org, name="Lab")
    vhost = vhost_of(workspace.pk)
    assert vhost in management.vhosts()
    delete_workspace(workspace)
    assert vhost not in management.vhosts()


def test_reconciliation_closes_what_a_lost_revocation_left_open(
    rabbitmq: RunningCluster, tenant: Callable[..., MqttClient], device: Callable[..., Device]
) -> None:
    """A change RabbitMQ never heard of (here: written past the model's verbs) is caught by the next
    reconciliation, which closes the session the database no longer allows, and only that one."""
    client, other = tenant("sensor-1"), tenant("sensor-2")
    stale, fine = device(rabbitmq.mqtt_ports[0], client), device(rabbitmq.mqtt_ports[1], other)
    assert stale.connect() == 0
    assert fine.connect() == 0
    MqttClient.objects.filter(pk=client.pk).update(enabled=False)
    # The listing reconcile() reads is RabbitMQ's statistics, a second or two late.
    wait_for(lambda: reconcile() or stale.disconnected.is_set(), timeout=15.0, interval=0.5)
    assert stale.wait_disconnected(2.0)
    assert fine.flush() == []


def test_with_node_b_stopped_node_a_keeps_working(
    rabbitmq: RunningCluster, tenant: Callable[..., MqttClient], device: Callable[..., Device]
) -> None:
    """One node down: the other keeps its sessions, takes new logins and still revokes. (Last: it
    stops node B for the rest of the session.)"""
    client, other = tenant("sensor-1"), tenant("sensor-2")
    port_a, _ = rabbitmq.mqtt_ports
    kept = device(port_a, other)
    assert kept.connect() == 0
    rabbitmq.cluster.stop_node(rabbitmq.cluster.nodes[1])
    assert kept.flush() == []
    fresh = device(port_a, client)
    assert fresh.connect() == 0
    assert fresh.subscribe("sensors/+", 1) == 1
    kept.publish("sensors/t", b"x", qos=1)
    assert fresh.expect().payload == b"x"
    ended = client.disable()
    assert fresh.wait_disconnected(1.0)
    assert ended.count == 1
