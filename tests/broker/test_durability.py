"""What survives a restart of `manage.py runbroker` (cloudsignal/broker/persistence.py).

SIGTERM keeps everything: retained messages and persistent sessions with their subscriptions, queued
and in-flight QoS 1/2 messages. SIGKILL keeps what was written before it: retained messages,
subscriptions and queued messages are written as they change (tested here after the write is seen
in the database); in-flight messages of connected sessions are not. Isolation and ACL hold after.
"""

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from acl.language import RuleSpec
from clients.models import AclRule, MqttClient, RetainedMessage, StoredSession
from tests.broker import wire
from tests.broker.devices import Device
from tests.broker.wire import RawClient
from tests.support.broker_process import BrokerProcess
from tests.support.waiting import wait_for
from workspaces.models import Organization, Workspace

MakeClient = Callable[..., tuple[MqttClient, str]]


@pytest.fixture
def data_dir(transactional_db: None, settings: Any) -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="cs-"))
    settings.BROKER_CONTROL_SOCKET = directory / "broker.sock"
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def processes(data_dir: Path) -> Iterator[Callable[[], BrokerProcess]]:
    """Start `runbroker` processes on one data dir; whatever is still running is stopped after."""
    started: list[BrokerProcess] = []

    def start() -> BrokerProcess:
        started.append(BrokerProcess(data_dir))
        return started[-1]

    yield start
    for process in started:
        if process.process.poll() is None:
            process.kill()


def test_sigterm_keeps_retained_messages_and_persistent_sessions_with_their_messages(
    org: Organization,
    other_org: Organization,
    make_client: MakeClient,
    processes: Callable[[], BrokerProcess],
    devices: Callable[..., Device],
) -> None:
    """Before: a retained message and a persistent session (subscribed at QoS 1, one message queued
    while it was away) were both gone after SIGTERM and a restart."""
    sensor, password = make_client(org, "sensor-1")
    user = (sensor.full_username, password)
    AclRule.objects.append(org.default_workspace, RuleSpec("*", "subscribe", "jobs/secret", "deny"))
    first = processes()
    port = first.ports["mqtt"]

    publisher = devices(port, *user, "publisher")
    assert publisher.connect() == 0
    publisher.publish("config/mode", b"eco", qos=1, retain=True)
    keeper = devices(port, *user, "keeper", clean_session=False)
    assert keeper.connect() == 0
    assert keeper.subscribe("jobs/#", 1) == 1
    keeper.close()
    publisher.publish("jobs/1", b"queued", qos=1)
    publisher.publish("jobs/secret", b"denied", qos=1)
    # A device that received a QoS 1 message and had not acknowledged it when the broker stopped.
    slow = RawClient(port)
    assert slow.login("slow", *user, clean=False) == b"\x00\x00"
    slow.send(wire.subscribe(1, ("inbox/#", 1)))
    assert slow.read().kind == wire.SUBACK  # type: ignore[union-attr]
    publisher.publish("inbox/1", b"in flight", qos=1)
    unacked = slow.read()
    assert unacked is not None and unacked.kind == wire.PUBLISH
    publisher.flush()

    assert first.stop() == 0
    slow.close()
    second = processes()
    port = second.ports["mqtt"]

    newcomer = devices(port, *user, "newcomer")
    assert newcomer.connect() == 0
    assert newcomer.subscribe("config/#", 1) == 1
    assert [(m.topic, m.payload, m.retain) for m in newcomer.flush()] == [("config/mode", b"eco", True)]
    back = devices(port, *user, "keeper", clean_session=False)
    assert back.connect() == 0
    assert back.session_present is True
    assert [(m.topic, m.payload) for m in back.flush()] == [("jobs/1", b"queued")]
    # The subscription is still there for new messages.
    newcomer.publish("jobs/2", b"live", qos=1)
    assert back.expect().payload == b"live"
    with RawClient(port) as again:
        assert again.login("slow", *user, clean=False) == b"\x01\x00"
        redelivered = again.read()
        assert redelivered is not None
        assert (redelivered.topic, redelivered.payload, redelivered.dup) == ("inbox/1", b"in flight", True)

    # Isolation holds: another organization sees none of it.
    outsider, outsider_password = make_client(other_org, "sensor-1")
    stranger = devices(port, outsider.full_username, outsider_password, "keeper", clean_session=False)
    assert stranger.connect() == 0
    assert stranger.session_present is False
    assert stranger.subscribe("#", 1) == 1
    assert stranger.flush() == []


def test_sigkill_keeps_retained_messages_subscriptions_and_queued_messages_once_written(
    org: Organization,
    make_client: MakeClient,
    processes: Callable[[], BrokerProcess],
    devices: Callable[..., Device],
) -> None:
    sensor, password = make_client(org, "sensor-1")
    user = (sensor.full_username, password)
    first = processes()
    port = first.ports["mqtt"]
    publisher = devices(port, *user, "publisher")
    assert publisher.connect() == 0
    publisher.publish("config/mode", b"eco", qos=1, retain=True)
    keeper = devices(port, *user, "keeper", clean_session=False)
    assert keeper.connect() == 0
    assert keeper.subscribe("jobs/#", 1) == 1
    keeper.close()
    publisher.publish("jobs/1", b"queued", qos=1)
    publisher.flush()

    def written() -> bool:
        session = StoredSession.objects.filter(device_client_id="keeper").first()
        return (
            RetainedMessage.objects.filter(topic="config/mode").exists()
            and session is not None
            and session.subscriptions == [["jobs/#", 1]]
            and len(session.queued) == 1
        )

    wait_for(written)
    first.kill()
    second = processes()
    port = second.ports["mqtt"]
    newcomer = devices(port, *user, "newcomer")
    assert newcomer.connect() == 0
    assert newcomer.subscribe("config/#", 1) == 1
    assert [m.payload for m in newcomer.flush()] == [b"eco"]
    back = devices(port, *user, "keeper", clean_session=False)
    assert back.connect() == 0
    assert back.session_present is True
    assert [m.payload for m in back.flush()] == [b"queued"]


def test_a_retained_message_cleared_before_a_restart_stays_cleared(
    org: Organization,
    make_client: MakeClient,
    processes: Callable[[], BrokerProcess],
    devices: Callable[..., Device],
) -> None:
    sensor, password = make_client(org, "sensor-1")
    first = processes()
    d = devices(first.ports["mqtt"], sensor.full_username, password, "d")
    assert d.connect() == 0
    d.publish("config/mode", b"eco", qos=1, retain=True)
    d.publish("config/mode", b"", qos=1, retain=True)  # an empty retained payload clears it
    d.flush()
    assert first.stop() == 0
    assert not RetainedMessage.objects.exists()


def test_a_session_of_a_credential_reset_while_the_broker_was_down_is_not_restored(
    org: Organization,
    make_client: MakeClient,
    processes: Callable[[], BrokerProcess],
    devices: Callable[..., Device],
) -> None:
    from clients.provisioning import reset_password

    sensor, password = make_client(org, "sensor-1")
    first = processes()
    keeper = devices(first.ports["mqtt"], sensor.full_username, password, "keeper", clean_session=False)
    assert keeper.connect() == 0
    assert keeper.subscribe("jobs/#", 1) == 1
    keeper.close()
    assert first.stop() == 0
    new_password, _ended = reset_password(sensor)
    second = processes()
    back = devices(second.ports["mqtt"], sensor.full_username, new_password, "keeper", clean_session=False)
    assert back.connect() == 0
    assert back.session_present is False


def test_a_workspaces_retained_messages_go_with_it(org: Organization, db: None) -> None:
    workspace = Workspace.objects.create(organization=org, name="staging")
    RetainedMessage.objects.create(workspace=workspace, topic="config/mode", payload=b"eco", qos=1)
    workspace.delete()
    assert not RetainedMessage.objects.exists()
