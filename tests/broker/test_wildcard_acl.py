"""Wildcard subscriptions under ACL rules, as Mosquitto does it: a subscription is refused only when the
rules deny every topic it could match; each message delivered (live, queued or retained) is checked
against the subscriber's rules for its own topic."""

from collections.abc import Callable

import pytest

from acl.language import RuleSpec
from clients.models import AclRule, MqttClient
from tests.broker.devices import Device
from workspaces.models import Organization

MakeClient = Callable[..., tuple[MqttClient, str]]
MakeDevice = Callable[..., Device]


@pytest.fixture
def credential(org: Organization, make_client: MakeClient) -> tuple[str, str]:
    """A client of a workspace holding exactly the Paho interoperability suite's rule."""
    AclRule.objects.append(org.default_workspace, RuleSpec("*", "subscribe", "test/nosubscribe", "deny"))
    client, password = make_client(org, "monitor")
    return client.full_username, password


def test_wildcards_overlapping_a_deny_rule_are_granted_and_never_deliver_the_denied_topic(
    credential: tuple[str, str], device: MakeDevice
) -> None:
    """Before: `#` and `+/+` got SUBACK 0x80, so a monitoring service subscribed to `#` got nothing."""
    monitor = device(*credential, "monitor")
    assert monitor.connect() == 0
    assert monitor.subscribe("#", 1) == 1
    assert monitor.subscribe("+/+", 1) == 1
    assert monitor.subscribe("test/nosubscribe", 1) == 128
    sender = device(*credential, "sender")
    assert sender.connect() == 0
    sender.publish("test/nosubscribe", b"denied", qos=1)
    sender.publish("TopicA/B", b"allowed", qos=1)
    sender.publish("test/other", b"allowed too", qos=1)
    sender.flush()
    received = [(m.topic, m.payload) for m in monitor.flush()]
    # Matched by both `#` and `+/+`: one copy per matching subscription, as amqtt and Mosquitto do.
    assert ("test/nosubscribe", b"denied") not in received
    assert {("TopicA/B", b"allowed"), ("test/other", b"allowed too")} == set(received)


def test_a_denied_retained_message_is_not_replayed_to_a_wildcard(
    credential: tuple[str, str], device: MakeDevice
) -> None:
    sender = device(*credential, "sender")
    assert sender.connect() == 0
    sender.publish("test/nosubscribe", b"denied", qos=1, retain=True)
    sender.publish("test/open", b"retained", qos=1, retain=True)
    sender.flush()
    monitor = device(*credential, "monitor")
    assert monitor.connect() == 0
    assert monitor.subscribe("test/#", 1) == 1
    assert [(m.topic, m.payload, m.retain) for m in monitor.flush()] == [("test/open", b"retained", True)]


def test_queued_messages_are_checked_when_delivered_against_the_rules_of_that_moment(
    org: Organization, credential: tuple[str, str], device: MakeDevice
) -> None:
    """Queued while the session was away: the denied topic never arrives, and neither does a message
    whose topic a rule added since queueing denies."""
    sleeper = device(*credential, "sleeper", clean_session=False)
    assert sleeper.connect() == 0
    assert sleeper.subscribe("#", 1) == 1
    sleeper.close()
    sender = device(*credential, "sender")
    assert sender.connect() == 0
    for topic in ("test/nosubscribe", "jobs/1", "jobs/secret", "jobs/2"):
        sender.publish(topic, topic.encode(), qos=1)
    sender.flush()
    AclRule.objects.append(org.default_workspace, RuleSpec("*", "subscribe", "jobs/secret", "deny"))
    back = device(*credential, "sleeper", clean_session=False)
    assert back.connect() == 0
    assert back.session_present is True
    assert sorted(m.topic for m in back.flush()) == ["jobs/1", "jobs/2"]


def test_a_rule_change_applies_to_the_next_message_of_a_wildcard_subscription(
    org: Organization, credential: tuple[str, str], device: MakeDevice
) -> None:
    monitor = device(*credential, "monitor")
    assert monitor.connect() == 0
    assert monitor.subscribe("#", 1) == 1
    sender = device(*credential, "sender")
    assert sender.connect() == 0
    sender.publish("sensors/x", b"1", qos=1)
    assert [m.payload for m in monitor.flush()] == [b"1"]

    rule = AclRule.objects.append(org.default_workspace, RuleSpec("*", "subscribe", "sensors/x", "deny"))
    sender.publish("sensors/x", b"2", qos=1)
    sender.publish("sensors/y", b"3", qos=1)
    assert [m.payload for m in monitor.flush()] == [b"3"]
    assert not monitor.disconnected.is_set()

    rule.delete()
    sender.publish("sensors/x", b"4", qos=1)
    assert [m.payload for m in monitor.flush()] == [b"4"]
