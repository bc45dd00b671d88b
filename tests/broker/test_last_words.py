"""A device that publishes and disconnects at once (mosquitto_pub, a sensor waking for one reading)
must not lose that message: everything it sent before DISCONNECT is delivered."""

import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings

from clients.models import MqttClient
from cloudsignal.broker import tls
from cloudsignal.broker.config import BrokerOptions, loopback_listeners
from cloudsignal.broker.runner import BrokerThread
from tests.broker.devices import Device, _remaining_length, _string, connect_packet
from workspaces.models import Organization

MakeClient = Callable[..., tuple[MqttClient, str]]


def publish_packet(topic: str, payload: bytes) -> bytes:
    body = _string(topic) + payload
    return bytes([0x30]) + _remaining_length(len(body)) + body  # QoS 0, no retain


DISCONNECT = bytes([0xE0, 0x00])


@pytest.mark.parametrize("listener", ["mqtt", "mqtts"])
def test_publish_then_disconnect_in_one_write_is_delivered(
    org: Organization,
    make_client: MakeClient,
    start_broker: Callable[[BrokerOptions], BrokerThread],
    control_socket: Path,
    listener: str,
) -> None:
    broker = start_broker(
        BrokerOptions(listeners=loopback_listeners(tls=True), control_socket=control_socket)
    )
    client, password = make_client(org, "sensor-1")
    watcher = Device(broker.ports["mqtt"], client.full_username, password, "watcher")
    assert watcher.connect() == 0
    assert watcher.subscribe("readings/#", 0) == 0

    raw = socket.create_connection(("127.0.0.1", broker.ports[listener]), timeout=5)
    if listener == "mqtts":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        raw = context.wrap_socket(raw)
    with raw:
        raw.sendall(connect_packet("one-shot", client.full_username, password))
        assert raw.recv(4) == bytes([0x20, 0x02, 0x00, 0x00])
        # The reading, DISCONNECT and the close arrive together, as from a device that goes back to sleep.
        raw.sendall(publish_packet("readings/temp", b"21.5") + DISCONNECT)
    try:
        assert watcher.expect().payload == b"21.5"
    finally:
        watcher.close()


@pytest.mark.skipif(shutil.which("mosquitto_pub") is None, reason="mosquitto_pub is not installed")
@pytest.mark.parametrize("listener", ["mqtt", "mqtts"])
def test_mosquitto_pub_at_qos_0_is_delivered(
    org: Organization,
    make_client: MakeClient,
    start_broker: Callable[[BrokerOptions], BrokerThread],
    control_socket: Path,
    listener: str,
) -> None:
    """mosquitto_pub's default: QoS 0, then DISCONNECT and (over TLS) close_notify straight after."""
    broker = start_broker(
        BrokerOptions(listeners=loopback_listeners(tls=True), control_socket=control_socket)
    )
    cert, _key = tls.self_signed_paths(settings.DATA_DIR)
    client, password = make_client(org, "sensor-1")
    watcher = Device(broker.ports["mqtt"], client.full_username, password, "watcher")
    try:
        assert watcher.connect() == 0
        assert watcher.subscribe("sensors/temp", 0) == 0
        for n in range(3):
            secure = ("--cafile", str(cert)) if listener == "mqtts" else ()
            result = subprocess.run(
                [
                    "mosquitto_pub",
                    *("-h", "localhost", "-p", str(broker.ports[listener]), *secure),
                    *("-u", client.full_username, "-P", password, "-t", "sensors/temp", "-m", f"reading {n}"),
                ],
                capture_output=True,
                text=True,
                timeout=20,
            )
            assert result.returncode == 0, result.stderr
            assert watcher.expect().payload == f"reading {n}".encode()
    finally:
        watcher.close()
