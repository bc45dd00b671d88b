"""Each defect of stock amqtt 0.12.1 recorded in the shared notes, shown fixed over real sockets."""

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from clients.models import MqttClient
from cloudsignal.broker.config import BrokerOptions, loopback_listeners
from cloudsignal.broker.runner import BrokerThread
from tests.broker.devices import Device, closed_within, connect_packet, packet_header
from tests.support.waiting import wait_for
from workspaces.models import Organization

MakeClient = Callable[..., tuple[MqttClient, str]]
MakeDevice = Callable[..., Device]


def _raw(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def test_a_failed_login_reusing_a_live_client_id_changes_nothing(
    org: Organization, make_client: MakeClient, device: MakeDevice
) -> None:
    """Stock amqtt changed session state before authenticating: a wrong password naming a live client
    id wiped the victim's subscriptions or took its session over."""
    client, password = make_client(org, "sensor-1")
    victim = device(client.full_username, password, "dev", clean_session=False)
    assert victim.connect() == 0
    assert victim.subscribe("orders/#", 1) == 1
    for clean in (True, False):
        attacker = device(client.full_username, "wrong-password", "dev", clean_session=clean)
        assert attacker.connect() == 4
    assert not victim.disconnected.is_set()
    victim.publish("orders/1", b"still subscribed", qos=1)
    assert victim.expect().payload == b"still subscribed"


def test_failed_logins_leave_no_session_behind(
    org: Organization, make_client: MakeClient, device: MakeDevice, broker: BrokerThread
) -> None:
    client, _password = make_client(org, "sensor-1")
    for n in range(5):
        assert device(client.full_username, "wrong", f"ghost-{n}").connect() == 4
    assert broker.broker is not None
    assert broker.broker.sessions == {}
    assert broker.broker.registry.owners == {}


def test_the_same_client_id_in_two_tenants_coexists(
    org: Organization, other_org: Organization, make_client: MakeClient, device: MakeDevice
) -> None:
    """Stock amqtt had one global client-id namespace: tenant B's `dev` took over tenant A's."""
    a, a_password = make_client(org, "sensor-1")
    b, b_password = make_client(other_org, "sensor-1")
    first = device(a.full_username, a_password, "dev")
    second = device(b.full_username, b_password, "dev")
    assert first.connect() == 0
    assert second.connect() == 0
    assert first.flush() == []
    assert not first.disconnected.is_set()
    # Within one workspace the client id is still the session's identity: the newer one takes over.
    again = device(a.full_username, a_password, "dev")
    assert again.connect() == 0
    assert first.wait_disconnected()
    assert not second.disconnected.is_set()


def test_retained_messages_are_replayed_only_for_the_new_subscription(
    org: Organization, make_client: MakeClient, device: MakeDevice
) -> None:
    """Stock amqtt replayed, on every CONNECT, retained messages matching anyone's subscriptions."""
    client, password = make_client(org, "sensor-1")
    someone = device(client.full_username, password, "someone")
    assert someone.connect() == 0
    assert someone.subscribe("config/#", 0) == 0
    someone.publish("config/a", b"retained", qos=1, retain=True)
    assert someone.expect().topic == "config/a"

    newcomer = device(client.full_username, password, "newcomer")
    assert newcomer.connect() == 0
    assert newcomer.flush() == []  # no subscription, nothing replayed
    assert newcomer.subscribe("other/#", 1) == 1
    assert newcomer.flush() == []
    assert newcomer.subscribe("config/+", 1) == 1
    message = newcomer.expect()
    assert (message.topic, message.payload, message.retain) == ("config/a", b"retained", True)


def test_a_will_on_a_system_topic_is_refused(
    org: Organization, make_client: MakeClient, device: MakeDevice
) -> None:
    """Stock amqtt never checked will topics; here a will is checked like a publish."""
    client, password = make_client(org, "sensor-1")
    assert (
        device(client.full_username, password, "w", will=("$SYS/broker/fake", b"x", 0, False)).connect() == 5
    )


def test_a_will_is_published_in_the_clients_own_workspace(
    org: Organization, make_client: MakeClient, device: MakeDevice
) -> None:
    client, password = make_client(org, "sensor-1")
    watcher = device(client.full_username, password, "watcher")
    assert watcher.connect() == 0
    assert watcher.subscribe("status/#", 1) == 1
    mortal = device(client.full_username, password, "mortal", will=("status/mortal", b"offline", 1, False))
    assert mortal.connect() == 0
    mortal.client._sock_close()  # drop the TCP connection without DISCONNECT
    message = watcher.expect()
    assert (message.topic, message.payload) == ("status/mortal", b"offline")


def test_keep_alive_is_enforced_at_one_and_a_half_times_the_interval(
    org: Organization, make_client: MakeClient, broker: BrokerThread
) -> None:
    """Stock amqtt never closed a silent client (upstream issue #308)."""
    client, password = make_client(org, "sensor-1")
    with _raw(broker.ports["mqtt"]) as sock:
        sock.sendall(connect_packet("silent", client.full_username, password, keepalive=1))
        assert sock.recv(4) == b"\x20\x02\x00\x00"
        started = time.monotonic()
        assert closed_within(sock, 5)
        assert 1.0 <= time.monotonic() - started < 3.0


def test_a_socket_that_never_sends_connect_is_closed(
    start_broker: Callable[[BrokerOptions], BrokerThread], control_socket: Path
) -> None:
    """Stock amqtt kept idle sockets open for ever (200 stayed open in the notes' experiment)."""
    broker = start_broker(
        BrokerOptions(listeners=loopback_listeners(), control_socket=control_socket, connect_timeout=0.5)
    )
    with _raw(broker.ports["mqtt"]) as sock:
        assert closed_within(sock, 5)


def test_packets_over_the_maximum_size_end_the_connection(
    org: Organization,
    make_client: MakeClient,
    start_broker: Callable[[BrokerOptions], BrokerThread],
    control_socket: Path,
) -> None:
    """Stock amqtt accepted 16 MiB packets; the limit is CLOUDSIGNAL_MQTT_MAX_PAYLOAD_SIZE."""
    broker = start_broker(
        BrokerOptions(listeners=loopback_listeners(), control_socket=control_socket, max_payload_size=2048)
    )
    client, password = make_client(org, "sensor-1")
    # A PUBLISH announcing 10 MB is refused as soon as its length is read, without the body.
    with _raw(broker.ports["mqtt"]) as sock:
        sock.sendall(connect_packet("big", client.full_username, password))
        assert sock.recv(4) == b"\x20\x02\x00\x00"
        sock.sendall(packet_header(3, 10_000_000))
        assert closed_within(sock, 5)
    # Within the limit all is well; just over it, the session ends.
    d = Device(broker.ports["mqtt"], client.full_username, password, "paho")
    try:
        assert d.connect() == 0
        assert d.subscribe("blob", 0) == 0
        d.publish("blob", b"x" * 1500)
        assert len(d.expect().payload) == 1500
        d.publish("blob", b"x" * 3000)
        assert d.wait_disconnected(5)
    finally:
        d.close()


def test_connection_slots_are_never_leaked(
    org: Organization,
    make_client: MakeClient,
    start_broker: Callable[[BrokerOptions], BrokerThread],
    control_socket: Path,
) -> None:
    """Stock amqtt leaked a max_connections slot per truncated CONNECT until nobody could connect."""
    broker = start_broker(
        BrokerOptions(listeners=loopback_listeners(), control_socket=control_socket, max_connections=2)
    )
    client, password = make_client(org, "sensor-1")
    whole = connect_packet("x", client.full_username, password)
    for cut in (1, 2, 5, len(whole) - 1):
        for _ in range(2):
            with _raw(broker.ports["mqtt"]) as sock:
                sock.sendall(whole[:cut])
    for attempt in ("wrong", password):
        with _raw(broker.ports["mqtt"]) as sock:
            sock.sendall(connect_packet("x", client.full_username, attempt))
            sock.recv(4)
    d = Device(broker.ports["mqtt"], client.full_username, password, "after")
    try:
        assert d.connect() == 0
    finally:
        d.close()


@pytest.mark.parametrize("topic", ["$SYS/broker/uptime", "$share/x"])
def test_publishing_to_a_dollar_topic_ends_the_session(
    topic: str, org: Organization, make_client: MakeClient, device: MakeDevice, broker: BrokerThread
) -> None:
    """Stock amqtt stopped serving such a client but left it connected: a zombie."""
    client, password = make_client(org, "sensor-1")
    d = device(client.full_username, password, "z")
    assert d.connect() == 0
    d.publish(topic, b"x", qos=1)
    assert d.wait_disconnected(5)
    assert broker.broker is not None
    wait_for(lambda: broker.broker is not None and broker.broker.registry.connections == {})


@pytest.mark.parametrize(("publish_qos", "subscription_qos", "delivered"), [(0, 1, 0), (1, 2, 1), (2, 1, 1)])
def test_delivered_qos_is_the_lower_of_publish_and_subscription(
    publish_qos: int,
    subscription_qos: int,
    delivered: int,
    org: Organization,
    make_client: MakeClient,
    device: MakeDevice,
) -> None:
    """Stock amqtt delivered at the subscription's QoS even when the publish had a lower one."""
    client, password = make_client(org, "sensor-1")
    d = device(client.full_username, password, "q")
    assert d.connect() == 0
    assert d.subscribe("q/#", subscription_qos) == subscription_qos
    d.publish("q/1", b"x", qos=publish_qos)
    assert d.expect().qos == delivered


def test_a_persistent_session_gets_what_was_queued_while_it_was_away(
    org: Organization, make_client: MakeClient, device: MakeDevice
) -> None:
    """The offline queue goes through the same namespace: plain topics, QoS kept."""
    client, password = make_client(org, "sensor-1")
    sleeper = device(client.full_username, password, "sleeper", clean_session=False)
    assert sleeper.connect() == 0
    assert sleeper.subscribe("jobs/#", 1) == 1
    sleeper.close()
    sender = device(client.full_username, password, "sender")
    assert sender.connect() == 0
    sender.publish("jobs/7", b"do it", qos=1)
    sender.flush()
    back = device(client.full_username, password, "sleeper", clean_session=False)
    assert back.connect() == 0
    assert back.session_present is True
    message = back.expect()
    assert (message.topic, message.payload, message.qos) == ("jobs/7", b"do it", 1)


def test_another_credential_with_the_same_client_id_does_not_inherit_a_stored_session(
    org: Organization, make_client: MakeClient, device: MakeDevice
) -> None:
    first, first_password = make_client(org, "sensor-1")
    second, second_password = make_client(org, "sensor-2")
    owner = device(first.full_username, first_password, "shared", clean_session=False)
    assert owner.connect() == 0
    assert owner.subscribe("private/#", 1) == 1
    owner.close()
    intruder = device(second.full_username, second_password, "shared", clean_session=False)
    assert intruder.connect() == 0
    assert intruder.session_present is False
    sender = device(first.full_username, first_password, "sender")
    assert sender.connect() == 0
    sender.publish("private/1", b"not for sensor-2", qos=1)
    sender.flush()
    assert intruder.flush() == []
