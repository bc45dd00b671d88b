"""The production shape: the broker in its own process (`manage.py runbroker`), changes made here.

Runs on whichever database the suite runs on (SQLite file or PostgreSQL); the broker process shares
the test database through DATABASE_URL.
"""

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clients.models import BrokerNode, LiveSession, MqttClient
from clients.provisioning import reset_password
from cloudsignal.broker.runner import BrokerThread
from tests.broker.devices import Device
from tests.support.broker_process import BrokerProcess
from tests.support.waiting import wait_for
from workspaces.models import Organization, Workspace

pytestmark = pytest.mark.broker

MakeClient = Callable[..., tuple[MqttClient, str]]


@pytest.fixture(scope="module")
def broker_process(django_db_setup: None, django_db_blocker: Any) -> Iterator[BrokerProcess]:
    data_dir = Path(tempfile.mkdtemp(prefix="cs-"))
    process = BrokerProcess(data_dir)
    yield process
    if process.process.poll() is None:
        process.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def remote(broker_process: BrokerProcess, transactional_db: None, settings: Any) -> Iterator[BrokerProcess]:
    settings.BROKER_CONTROL_SOCKET = broker_process.socket
    yield broker_process


@pytest.fixture
def devices(remote: BrokerProcess) -> Iterator[Callable[..., Device]]:
    made: list[Device] = []

    def make(username: str | None, password: str | None, client_id: str = "", **kwargs: Any) -> Device:
        d = Device(remote.ports["mqtt"], username, password, client_id, **kwargs)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


REVOCATIONS: dict[str, Callable[[MqttClient], object]] = {
    "delete": lambda c: c.delete(),
    "disable": lambda c: c.disable(),
    "reset": lambda c: reset_password(c),
    "rename": lambda c: c.update(username="sensor-renamed"),
    "move": lambda c: c.update(
        workspace=Workspace.objects.create(organization=c.organization, name="production")
    ),
}


@pytest.mark.parametrize("change", REVOCATIONS)
def test_a_change_here_ends_sessions_in_the_broker_process_within_a_second(
    change: str, org: Organization, make_client: MakeClient, devices: Callable[..., Device]
) -> None:
    client, password = make_client(org, "sensor-1")
    old_username = client.full_username
    d = devices(old_username, password, "a")
    assert d.connect() == 0
    wait_for(lambda: LiveSession.objects.filter(client=client).exists())
    started = time.monotonic()
    outcome = REVOCATIONS[change](client)
    assert d.wait_disconnected(1.0)
    ended = outcome[1] if isinstance(outcome, tuple) else outcome
    assert (ended.broker_reachable, ended.count) == (True, 1)  # type: ignore[union-attr]
    assert time.monotonic() - started < 1.0
    if change != "move":
        # A disabled client holding its own password is told so (CONNACK 5).
        assert devices(old_username, password, "a").connect() == (5 if change == "disable" else 4)


def test_presence_rows_follow_connections(
    org: Organization, make_client: MakeClient, devices: Callable[..., Device]
) -> None:
    """The broker process writes a LiveSession row per connection (with listener and address) and
    removes it on disconnect; the client's last_connected is set."""
    client, password = make_client(org, "sensor-1")
    d = devices(client.full_username, password, "probe-7")
    assert d.connect() == 0
    wait_for(lambda: LiveSession.objects.alive().filter(client=client).exists())
    row = LiveSession.objects.get(client=client)
    assert (row.mqtt_client_id, row.listener, row.remote_address) == ("probe-7", "mqtt", "127.0.0.1")
    client.refresh_from_db()
    assert client.last_connected is not None
    d.close()
    wait_for(lambda: not LiveSession.objects.filter(client=client).exists())


def test_a_rolled_back_change_kicks_nobody_in_the_broker_process(
    org: Organization, make_client: MakeClient, devices: Callable[..., Device]
) -> None:
    from django.db import transaction

    client, password = make_client(org, "sensor-1")
    d = devices(client.full_username, password, "a")
    assert d.connect() == 0
    with pytest.raises(RuntimeError), transaction.atomic():
        client.disable()
        raise RuntimeError("rolled back")
    assert d.flush() == []
    assert not d.disconnected.is_set()


def test_sigterm_stops_the_broker_cleanly_and_removes_its_presence(
    transactional_db: None, org: Organization, make_client: MakeClient, settings: Any
) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="cs-"))
    try:
        process = BrokerProcess(data_dir)
        client, password = make_client(org, "sensor-1")
        d = Device(process.ports["mqtt"], client.full_username, password, "a")
        try:
            assert d.connect() == 0
            wait_for(lambda: LiveSession.objects.filter(client=client).exists())
            assert process.stop() == 0
            assert d.wait_disconnected(5)
        finally:
            d.close()
        assert not BrokerNode.objects.filter(pid=process.process.pid).exists()
        assert not LiveSession.objects.filter(client=client).exists()
        assert not process.socket.exists()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_every_broker_process_forgets_a_changed_credential_before_the_change_returns(
    org: Organization,
    make_client: MakeClient,
    broker: BrokerThread,
) -> None:
    """Two brokers: the dashboard's socket points at one (a thread here), a device logs in at the
    other (a process, its reconciliation slowed to 5 minutes so only the hint can act in time). The
    second broker answers warm logins from memory, yet once a revoking change returns, the old
    credential is refused there at once: every running broker is told (clients/hints.py)."""
    data_dir = Path(tempfile.mkdtemp(prefix="cs-"))
    other = BrokerProcess(data_dir, CLOUDSIGNAL_BROKER_RECONCILE_SECONDS="300")
    made: list[Device] = []

    def devices(port: int, username: str, password: str, client_id: str) -> Device:
        made.append(Device(port, username, password, client_id))
        return made[-1]

    try:
        port = other.ports["mqtt"]
        wait_for(lambda: BrokerNode.objects.filter(control_socket=str(other.socket)).exists())
        changes: dict[str, Callable[[MqttClient], object]] = {
            name: REVOCATIONS[name] for name in ("delete", "disable", "reset", "rename")
        }
        for n, (change, make_change) in enumerate(changes.items()):
            client, password = make_client(org, f"sensor-{n}")
            username = client.full_username
            for attempt in range(2):  # the second login is warm: from the other broker's memory
                d = devices(port, username, password, f"dev-{attempt}")
                assert d.connect() == 0
                d.close()
            outcome = make_change(client)
            ended = outcome[1] if isinstance(outcome, tuple) else outcome
            assert ended.broker_reachable  # type: ignore[union-attr]
            assert devices(port, username, password, "late").connect() == (5 if change == "disable" else 4), (
                change
            )
    finally:
        for d in made:
            d.close()
        other.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
