"""Each workspace is its own topic namespace, and its ACL rules apply to live sessions at once."""

from collections.abc import Callable

import pytest

from acl.language import RuleSpec
from clients.models import AclRule, MqttClient
from clients.provisioning import delete_workspace
from cloudsignal.broker import namespace
from cloudsignal.broker.runner import BrokerThread
from tests.broker.devices import Device
from tests.support.waiting import wait_for
from workspaces.models import Organization, Workspace

MakeClient = Callable[..., tuple[MqttClient, str]]
MakeDevice = Callable[..., Device]


@pytest.fixture
def production(org: Organization) -> Workspace:
    return Workspace.objects.create(organization=org, name="production")


@pytest.mark.parametrize("neighbour", ["same-org", "other-org"])
def test_two_workspaces_using_the_same_topics_and_client_ids_never_meet(
    neighbour: str,
    org: Organization,
    other_org: Organization,
    production: Workspace,
    make_client: MakeClient,
    device: MakeDevice,
) -> None:
    """Not live messages, not retained ones, not wills, not through `#`, not through `$SYS`."""
    here, here_password = make_client(org, "dev-agent-001")
    if neighbour == "same-org":
        there, there_password = make_client(org, "prod-agent-001", workspace=production)
    else:
        there, there_password = make_client(other_org, "dev-agent-001")
    colleague, colleague_password = make_client(org, "dev-agent-002")

    listener = device(here.full_username, here_password, "dev")
    assert listener.connect() == 0
    assert listener.subscribe("#", 1) == 1
    assert listener.subscribe("+/temp", 1) == 1
    assert listener.subscribe("$SYS/#", 0) == 128

    stranger = device(there.full_username, there_password, "dev", will=("sensors/temp", b"will", 1, True))
    assert stranger.connect() == 0
    assert stranger.subscribe("sensors/#", 1) == 1
    stranger.publish("sensors/temp", b"theirs", qos=1)
    stranger.publish("sensors/retained", b"theirs", qos=1, retain=True)
    assert {m.payload for m in stranger.flush()} == {b"theirs"}
    stranger.client._sock_close()  # its will fires in its own workspace
    assert not listener.disconnected.is_set()  # same client id, no take-over

    # A colleague in the listener's own workspace is heard, under the plain topic.
    peer = device(colleague.full_username, colleague_password, "peer")
    assert peer.connect() == 0
    peer.publish("sensors/temp", b"ours", qos=1)
    assert [(m.topic, m.payload) for m in listener.flush()] == [("sensors/temp", b"ours")] * 2

    late = device(here.full_username, here_password, "late")
    assert late.connect() == 0
    assert late.subscribe("sensors/#", 1) == 1
    assert late.flush() == []  # no retained message from the other workspace


def test_deleting_a_workspace_removes_its_retained_messages(
    org: Organization,
    production: Workspace,
    make_client: MakeClient,
    device: MakeDevice,
    broker: BrokerThread,
) -> None:
    client, password = make_client(org, "prod-1", workspace=production)
    d = device(client.full_username, password, "p")
    assert d.connect() == 0
    d.publish("config", b"keep me?", qos=1, retain=True)
    d.flush()
    assert broker.broker is not None
    assert any(t.startswith(f"w{production.pk}/") for t in broker.broker.retained_messages)
    delete_workspace(production)
    assert d.wait_disconnected(1.0)
    broker.call(broker.broker.reconcile())
    assert not any(t.startswith(f"w{production.pk}/") for t in broker.broker.retained_messages)


def test_acl_rules_decide_publish_and_subscribe(
    org: Organization, make_client: MakeClient, device: MakeDevice
) -> None:
    """A denied subscribe gets SUBACK 0x80 (and so no retained message); a denied publish reaches
    nobody; a denied will refuses the CONNECT."""
    workspace = org.default_workspace
    agent, agent_password = make_client(org, "agent-1")
    watcher_client, watcher_password = make_client(org, "watcher")
    AclRule.objects.append(workspace, RuleSpec("agent-*", "publish", "secrets/#", "deny"))
    AclRule.objects.append(workspace, RuleSpec("agent-*", "subscribe", "admin/#", "deny"))

    watcher = device(watcher_client.full_username, watcher_password, "watcher")
    assert watcher.connect() == 0
    assert watcher.subscribe("#", 1) == 1
    watcher.publish("admin/retained", b"for admins", qos=1, retain=True)

    a = device(agent.full_username, agent_password, "a")
    assert a.connect() == 0
    assert a.subscribe("admin/#", 1) == 128
    a.publish("secrets/key", b"leak", qos=1)
    a.publish("telemetry/1", b"fine", qos=1)
    # A wildcard that could also match allowed topics is granted; the denied retained message is
    # still not delivered: each delivery is checked on its concrete topic.
    assert a.subscribe("+/retained", 1) == 1
    assert a.flush() == []
    assert [m.payload for m in watcher.flush()] == [b"for admins", b"fine"]

    refused = device(agent.full_username, agent_password, "b", will=("secrets/will", b"x", 0, False))
    assert refused.connect() == 5


def test_a_rule_change_reaches_live_sessions_within_a_second(
    org: Organization, make_client: MakeClient, device: MakeDevice
) -> None:
    """A new rule applies to sessions already connected: subscriptions it forbids stop delivering,
    and their next publish and subscribe are checked against it."""
    workspace = org.default_workspace
    agent, agent_password = make_client(org, "agent-1")
    ops, ops_password = make_client(org, "ops")
    a = device(agent.full_username, agent_password, "a")
    o = device(ops.full_username, ops_password, "o")
    assert a.connect() == 0
    assert o.connect() == 0
    assert a.subscribe("alerts/#", 1) == 1
    o.publish("alerts/1", b"before", qos=1)
    assert a.expect().payload == b"before"

    # Applied by the time the admin's change returns: the broker answers the hint after reloading.
    AclRule.objects.append(workspace, RuleSpec("agent-*", "subscribe", "alerts/#", "deny"))
    o.publish("alerts/2", b"after", qos=1)
    o.flush()
    assert a.flush() == []
    assert a.subscribe("alerts/#", 1) == 128

    AclRule.objects.set_default(workspace, "deny")
    a.publish("notes/1", b"denied", qos=1)
    assert o.subscribe("notes/#", 1) == 128  # ops is denied too now
    AclRule.objects.append(workspace, RuleSpec("*", "all", "notes/#", "allow"))
    assert o.subscribe("notes/#", 1) == 1
    a.publish("notes/2", b"allowed again", qos=1)
    assert o.expect().payload == b"allowed again"


def test_a_will_that_the_rules_no_longer_allow_is_not_published(
    org: Organization, make_client: MakeClient, device: MakeDevice, broker: BrokerThread
) -> None:
    """A will is checked at CONNECT and again when it would be published: a rule added in between
    that denies its topic drops it."""
    sensor, sensor_password = make_client(org, "sensor-1")
    ops, ops_password = make_client(org, "ops")
    watcher = device(ops.full_username, ops_password, "watcher")
    assert watcher.connect() == 0
    assert watcher.subscribe("status/#", 1) == 1
    will = ("status/mortal", b"gone", 1, False)
    mortal = device(sensor.full_username, sensor_password, "mortal", will=will)
    assert mortal.connect() == 0

    AclRule.objects.append(org.default_workspace, RuleSpec("sensor-*", "publish", "status/#", "deny"))
    mortal.client._sock_close()  # dropped without DISCONNECT: the will would be due
    assert broker.broker is not None
    live = broker.broker.registry.connections
    key = namespace.session_key(org.default_workspace.pk, "mortal")
    wait_for(lambda: key not in live)
    assert watcher.flush() == []
