"""Logins over real sockets: paho-mqtt against the broker on free ports (TCP, TLS, WebSocket)."""

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
from django.conf import settings

from clients.models import MqttClient
from cloudsignal.broker import tls
from cloudsignal.broker.config import BrokerOptions, loopback_listeners
from cloudsignal.broker.runner import BrokerThread
from tests.broker.devices import Device
from tests.support.waiting import wait_for
from workspaces.models import Organization

MakeClient = Callable[..., tuple[MqttClient, str]]
MakeDevice = Callable[..., Device]


@pytest.mark.parametrize(
    "case", ["anonymous", "malformed", "unknown", "other-org", "disabled", "wrong-password", "ok"]
)
def test_login_cases_over_mqtt(
    case: str,
    org: Organization,
    other_org: Organization,
    make_client: MakeClient,
    device: MakeDevice,
    broker: BrokerThread,
) -> None:
    """Only an enabled client with its password gets CONNACK 0; a disabled one with its password gets 5;
    every bad credential gets 4; none leaves a session behind in the broker."""
    client, password = make_client(org, "sensor-1")
    if case == "disabled":
        client.disable()
    username, secret = {
        "anonymous": (None, None),
        "malformed": ("sensor-1", password),
        "unknown": (f"nobody@{org.id}", password),
        "other-org": (f"sensor-1@{other_org.id}", password),
        "disabled": (client.full_username, password),
        "wrong-password": (client.full_username, "x" + password),
        "ok": (client.full_username, password),
    }[case]
    code = device(username, secret, "device-1").connect()
    assert code == {"ok": 0, "disabled": 5}.get(case, 4)
    assert broker.broker is not None
    assert len(broker.broker.sessions) == (1 if case == "ok" else 0)


def test_a_successful_login_records_last_connected(
    org: Organization, make_client: MakeClient, device: MakeDevice
) -> None:
    client, password = make_client(org, "sensor-1")
    assert client.last_connected is None
    assert device(client.full_username, password).connect() == 0

    def recorded() -> bool:
        client.refresh_from_db()
        return client.last_connected is not None

    wait_for(recorded)


def test_tls_and_websocket_listeners(
    org: Organization,
    make_client: MakeClient,
    start_broker: Callable[[BrokerOptions], BrokerThread],
    control_socket: Path,
) -> None:
    """With no certificate configured, a self-signed one is made in the data dir; devices that use it
    as their CA connect over TLS. WebSocket clients connect at /mqtt and nowhere else."""
    options = BrokerOptions(
        listeners=loopback_listeners(tls=True, websocket=True), control_socket=control_socket
    )
    broker = start_broker(options)
    cert, _key = tls.self_signed_paths(settings.DATA_DIR)
    assert cert.exists()
    client, password = make_client(org, "sensor-1")
    secure = Device(broker.ports["mqtts"], client.full_username, password, "tls-device", ca_file=str(cert))
    web = Device(broker.ports["ws"], client.full_username, password, "ws-device", transport="websockets")
    try:
        assert secure.connect() == 0
        assert web.connect() == 0
        assert web.subscribe("room/+/temp", 1) == 1
        secure.publish("room/1/temp", b"21.5", qos=1)
        assert web.expect().payload == b"21.5"
    finally:
        secure.close()
        web.close()
    with pytest.raises(HTTPError) as refused:
        urlopen(f"http://127.0.0.1:{broker.ports['ws']}/other", timeout=5)
    assert refused.value.code == 404


def test_a_busy_port_names_its_variable(
    start_broker: Callable[[BrokerOptions], BrokerThread], broker_options: BrokerOptions, control_socket: Path
) -> None:
    from django.core.management.base import CommandError

    first = start_broker(broker_options)
    busy = loopback_listeners()[0]
    taken = BrokerOptions(
        listeners=[type(busy)(busy.name, busy.host, first.ports["mqtt"], busy.port_variable)],
        control_socket=control_socket.with_name("other.sock"),
    )
    with pytest.raises(CommandError, match="CLOUDSIGNAL_MQTT_PORT"):
        BrokerThread(taken).start()


def test_a_database_outage_refuses_logins_with_server_unavailable_and_spares_live_sessions(
    org: Organization,
    make_client: MakeClient,
    device: MakeDevice,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A login that needs the database gets CONNACK 3 while it is away; a credential verified before
    still logs in from the broker's memory (nothing can be revoked while nothing can commit)."""
    from django import db

    client, password = make_client(org, "sensor-1")
    other, other_password = make_client(org, "sensor-2")
    live = device(client.full_username, password, "live")
    assert live.connect() == 0
    assert live.subscribe("t", 1) == 1

    def unavailable(*args: object, **kwargs: object) -> None:
        raise db.OperationalError("the database went away")

    monkeypatch.setattr(MqttClient.objects, "by_username", unavailable)
    assert device(other.full_username, other_password, "new").connect() == 3
    assert device(client.full_username, password, "warm").connect() == 0
    monkeypatch.undo()
    live.publish("t", b"still here", qos=1)
    assert live.expect().payload == b"still here"
    assert device(other.full_username, other_password, "new").connect() == 0


@pytest.mark.skipif(shutil.which("mosquitto_pub") is None, reason="mosquitto_pub is not installed")
def test_mosquitto_pub_connects_over_tls_with_the_generated_certificate_as_ca(
    org: Organization, make_client: MakeClient, tls_broker: BrokerThread
) -> None:
    """The guide's command-line example, as a device would run it."""
    broker = tls_broker
    cert, _key = tls.self_signed_paths(settings.DATA_DIR)
    client, password = make_client(org, "sensor-1")
    watcher = Device(broker.ports["mqtt"], client.full_username, password, "watcher")
    try:
        assert watcher.connect() == 0
        assert watcher.subscribe("sensors/temp", 1) == 1
        result = subprocess.run(
            [
                "mosquitto_pub",
                *("-h", "localhost", "-p", str(broker.ports["mqtts"]), "--cafile", str(cert)),
                *("-u", client.full_username, "-P", password, "-i", "cli"),
                *("-t", "sensors/temp", "-m", "22.5", "-q", "1"),
            ],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert result.returncode == 0, result.stderr
        assert watcher.expect().payload == b"22.5"
    finally:
        watcher.close()
