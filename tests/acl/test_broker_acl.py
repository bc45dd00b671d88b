"""ACL rules on the wire: paho devices against the real embedded broker on free ports.

The many matching cases are unit tests (test_matching.py); these show what only a socket shows: a
denied subscribe gets a SUBACK failure, a denied publish reaches nobody, and a change made in the
dashboard's code path reaches live sessions within a second.
"""

import time
from collections.abc import Callable

import pytest

from acl.language import RuleSpec
from clients.models import AclRule, MqttClient
from tests.broker.devices import Device
from workspaces.models import Organization, Workspace

pytestmark = pytest.mark.broker

MakeClient = Callable[..., tuple[MqttClient, str]]
MakeDevice = Callable[..., Device]
REFUSED = 128


def rules(workspace: Workspace, *specs: tuple[str, str, str, str], default: str = "deny") -> None:
    # Device.flush() round-trips a marker under flush/, so every policy here lets that through.
    AclRule.objects.replace_policy(
        workspace, default, [RuleSpec("*", "all", "flush/#", "allow")] + [RuleSpec(*s) for s in specs]
    )


@pytest.fixture
def connect(org: Organization, make_client: MakeClient, device: MakeDevice) -> Callable[..., Device]:
    """A connected device for a new client of the organization's default workspace."""

    def make(username: str, client_id: str | None = None) -> Device:
        client, password = make_client(org, username)
        d = device(client.full_username, password, client_id or username)
        assert d.connect() == 0
        return d

    return make


def test_each_kind_of_rule_allows_and_denies_as_written(
    org: Organization, connect: Callable[..., Device]
) -> None:
    """One client, a username prefix, all clients, placeholders, and the default, over MQTT."""
    rules(
        org.default_workspace,
        ("sensor-7", "subscribe", "sensors/secret", "deny"),
        ("sensor-*", "all", "sensors/#", "allow"),
        ("agent-1", "publish", "sensors/news", "allow"),
        ("agent-*", "publish", "agents/${clientid}/#", "allow"),
        ("*", "subscribe", "agents/#", "allow"),
    )
    sensor7, sensor8, agent, other = (
        connect("sensor-7"),
        connect("sensor-8"),
        connect("agent-1", "a1"),
        connect("other"),
    )

    # Granted: it could receive allowed topics; sensors/secret is refused at each delivery.
    assert sensor7.subscribe("sensors/#") == 0
    assert sensor7.subscribe("sensors/secret") == REFUSED
    assert sensor7.subscribe("sensors/+/temp") == 0
    assert sensor8.subscribe("sensors/#") == 0
    assert other.subscribe("sensors/#") == REFUSED  # the default
    assert other.subscribe("agents/#") == 0

    # Denied publishes reach nobody: each is followed by an allowed one from the same client, which
    # the broker routes in order, so the first thing to arrive tells.
    agent.publish("sensors/x", b"denied: agent-* has no sensors rule")
    agent.publish("agents/a2/status", b"denied: not its own client id")
    agent.publish("agents/a1/status", b"allowed")
    agent.publish("sensors/news", b"allowed for agent-1 by name")
    got = other.expect()
    assert (got.topic, got.payload) == ("agents/a1/status", b"allowed")
    got = sensor8.expect()
    assert (got.topic, got.payload) == ("sensors/news", b"allowed for agent-1 by name")
    assert other.flush() == [] and sensor8.flush() == []
    assert [m.topic for m in sensor7.flush()] == ["sensors/news"]
    sensor8.publish("sensors/secret", b"not for sensor-7")
    sensor8.publish("sensors/open", b"for both")
    assert [m.topic for m in sensor7.flush()] == ["sensors/open"]


def test_a_rule_change_reaches_a_live_session_within_a_second(
    org: Organization, connect: Callable[..., Device]
) -> None:
    """Adding a deny rule at the top stops a live subscription delivering and the client's next
    publish, within a second of commit, without reconnecting."""
    workspace = org.default_workspace
    rules(workspace, ("*", "all", "sensors/#", "allow"), ("*", "all", "news/#", "allow"))
    watcher, sender = connect("watcher"), connect("sender")
    assert watcher.subscribe("sensors/#") == 0
    assert watcher.subscribe("news/#") == 0
    sender.publish("sensors/before", b"1")
    assert watcher.expect().topic == "sensors/before"

    started = time.monotonic()
    deny = AclRule.objects.append(workspace, RuleSpec("watcher", "subscribe", "sensors/#", "deny"))
    deny.move(-10)
    AclRule.objects.append(workspace, RuleSpec("sender", "publish", "news/blocked", "deny"))
    list(AclRule.objects.in_workspace(workspace))[-1].move(-10)
    sender.publish("sensors/after", b"2")
    sender.publish("news/blocked", b"3")
    sender.publish("news/marker", b"4")
    got = watcher.expect(timeout=1.0)
    assert (got.topic, got.payload) == ("news/marker", b"4")
    assert time.monotonic() - started < 1.0
    assert not sender.disconnected.is_set() and not watcher.disconnected.is_set()
    # And the subscription is refused if asked for again.
    assert watcher.subscribe("sensors/#") == REFUSED


def test_a_default_change_reaches_a_live_session(org: Organization, connect: Callable[..., Device]) -> None:
    workspace = org.default_workspace
    rules(workspace, ("*", "all", "news/#", "allow"), default="allow")
    watcher, sender = connect("watcher"), connect("sender")
    assert watcher.subscribe("anything/#") == 0
    assert watcher.subscribe("news/#") == 0
    started = time.monotonic()
    AclRule.objects.set_default(workspace, "deny")
    sender.publish("anything/x", b"denied now")
    sender.publish("news/marker", b"allowed")
    assert watcher.expect(timeout=1.0).topic == "news/marker"
    assert time.monotonic() - started < 1.0
    assert watcher.subscribe("anything/#") == REFUSED


def test_a_hostile_client_id_gets_nothing_from_a_placeholder_rule(
    org: Organization, connect: Callable[..., Device]
) -> None:
    """A client id "#" must not turn devices/${clientid}/# into "everything under devices"."""
    rules(org.default_workspace, ("*", "all", "devices/${clientid}/#", "allow"))
    hostile, honest = connect("hostile", "#"), connect("honest", "d1")
    assert hostile.subscribe("devices/#") == REFUSED
    assert hostile.subscribe("devices/d1/#") == REFUSED
    assert honest.subscribe("devices/d1/#") == 0
