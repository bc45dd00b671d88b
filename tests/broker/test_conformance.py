"""MQTT 3.1.1 conformance on real sockets: each protocol violation ends that connection within a second
and touches nobody else; MQTT 5 gets CONNACK 0x01; DISCONNECT discards the will on every transport;
clean sessions leave nothing behind; unacknowledged QoS 1/2 messages are redelivered with DUP set."""

import logging
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from django.conf import settings
from paho.mqtt.enums import CallbackAPIVersion

from clients.models import MqttClient
from cloudsignal.broker import tls
from cloudsignal.broker.config import BrokerOptions, loopback_listeners
from cloudsignal.broker.runner import BrokerThread
from tests.broker import wire
from tests.broker.devices import Device
from tests.broker.wire import RawClient
from tests.support.waiting import wait_for
from workspaces.models import Organization

MakeClient = Callable[..., tuple[MqttClient, str]]
MakeDevice = Callable[..., Device]
ACCEPTED = b"\x00\x00"


@pytest.fixture
def credential(org: Organization, make_client: MakeClient) -> tuple[str, str]:
    client, password = make_client(org, "sensor-1")
    return client.full_username, password


@pytest.fixture
def bystander(credential: tuple[str, str], device: MakeDevice) -> Iterator[Device]:
    """A connected, subscribed device of the same workspace that must notice nothing."""
    d = device(*credential, "bystander")
    assert d.connect() == 0
    assert d.subscribe("bystander/#", 1) == 1
    yield d
    assert not d.disconnected.is_set()
    d.publish("bystander/still", b"here", qos=1)
    assert [m.payload for m in d.flush()] == [b"here"]


VIOLATIONS = {
    "publish QoS 3": wire.packet(0x36, wire.string("a/b") + b"\x00\x01x"),
    "publish topic with #": wire.publish("a/#"),
    "publish topic with +": wire.publish("a/+/b", qos=1),
    "publish topic with NUL": wire.publish("a/\x00b"),
    "publish topic not UTF-8": wire.publish(b"a/\xff\xfe"),
    "publish empty topic": wire.publish(""),
    "publish packet id 0": wire.publish("a/b", qos=1, packet_id=0),
    "subscribe empty filter": wire.subscribe(1, ("", 0)),
    "subscribe filter not UTF-8": wire.subscribe(1, (b"\xc3\x28", 0)),
    "subscribe without filters": wire.subscribe(1),
    "subscribe reserved flags 0": wire.subscribe(1, ("a/#", 0), flags=0),
    "subscribe QoS 3 requested": wire.subscribe(1, ("a/#", 3)),
    "subscribe misplaced #": wire.subscribe(1, ("a/#/b", 0)),
    "unsubscribe reserved flags 0": wire.unsubscribe(1, "a/#", flags=0),
    "unsubscribe empty filter": wire.unsubscribe(1, ""),
    "pubrel reserved flags 0": wire.ack(wire.PUBREL, 1, flags=0),
    "puback with flags": wire.ack(wire.PUBACK, 1, flags=1),
    "a second CONNECT": wire.connect("again", "x", "y"),
    "reserved type 0": bytes([0x00, 0x00]),
    "reserved type 15": bytes([0xF0, 0x00]),
    "server-only CONNACK": bytes([0x20, 0x02, 0x00, 0x00]),
    "server-only SUBACK": wire.packet(0x90, b"\x00\x01\x00"),
    "pingreq with a body": wire.packet(0xC0, b"\x00"),
}


@pytest.mark.parametrize("bad", VIOLATIONS.values(), ids=VIOLATIONS.keys())
def test_a_protocol_violation_ends_that_connection_within_a_second(
    bad: bytes, credential: tuple[str, str], broker: BrokerThread, bystander: Device
) -> None:
    """Stock amqtt left the connection open after QoS 3, `#` in a topic, reserved flags and more."""
    with RawClient(broker.ports["mqtt"]) as raw:
        assert raw.login("offender", *credential) == ACCEPTED
        raw.send(bad)
        assert raw.closed_within(1.0)


def test_a_packet_before_connect_ends_the_connection_without_connack(broker: BrokerThread) -> None:
    with RawClient(broker.ports["mqtt"]) as raw:
        raw.send(wire.PINGREQ)
        assert raw.read(1.0) is None


@pytest.mark.parametrize(
    ("protocol", "answer"),
    [(("MQTT", 5), b"\x00\x01"), (("MQIsdp", 3), b"\x00\x01")],
    ids=["MQTT 5", "MQTT 3.1"],
)
def test_other_protocol_levels_get_connack_1_and_a_close_at_once(
    protocol: tuple[str, int], answer: bytes, credential: tuple[str, str], broker: BrokerThread
) -> None:
    """Stock amqtt misread an MQTT 5 CONNECT and waited out the 10 s timeout. MQTT 3.1 is refused
    the same way (CONNACK 0x01, unacceptable protocol level): MQTT 3.1.1 only."""
    with RawClient(broker.ports["mqtt"]) as raw:
        raw.send(wire.connect("v5", *credential, protocol=protocol))
        connack = raw.read(1.0)
        assert connack is not None and (connack.kind, connack.body) == (wire.CONNACK, answer)
        assert raw.closed_within(1.0)


def test_a_paho_mqtt5_client_is_told_the_protocol_is_unacceptable(
    credential: tuple[str, str], broker: BrokerThread
) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="v5", protocol=mqtt.MQTTv5)
    client.username_pw_set(*credential)
    codes: list[int] = []
    client.on_connect = lambda c, u, f, rc, p: codes.append(rc.value)
    client.connect("127.0.0.1", broker.ports["mqtt"])
    client.loop_start()
    try:
        assert wait_for(lambda: codes, timeout=2.0) == [132]  # unsupported protocol version
    finally:
        client.loop_stop()


def test_a_zero_length_client_id_with_a_persistent_session_gets_connack_2(
    credential: tuple[str, str], broker: BrokerThread
) -> None:
    with RawClient(broker.ports["mqtt"]) as raw:
        raw.send(wire.connect("", *credential, clean=False))
        connack = raw.read(1.0)
        assert connack is not None and connack.body == b"\x00\x02"
        assert raw.closed_within(1.0)


def test_a_zero_length_client_id_with_a_clean_session_is_accepted(
    credential: tuple[str, str], broker: BrokerThread
) -> None:
    with RawClient(broker.ports["mqtt"]) as raw:
        assert raw.login("", *credential) == ACCEPTED
        raw.send(wire.subscribe(1, ("zero/#", 1)) + wire.publish("zero/1", b"hi", qos=1, packet_id=2))
        kinds: dict[int, wire.Received] = {}
        while len(kinds) < 3:
            got = raw.read()
            assert got is not None
            kinds[got.kind] = got
        assert kinds[wire.PUBLISH].payload == b"hi"


def test_an_oversized_payload_closes_the_publisher_and_says_why(
    credential: tuple[str, str],
    start_broker: Callable[[BrokerOptions], BrokerThread],
    control_socket: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The limit is on the payload: a payload of exactly the maximum passes whatever the topic; one
    byte more closes the publisher, and the log names the client and the reason."""
    broker = start_broker(
        BrokerOptions(listeners=loopback_listeners(), control_socket=control_socket, max_payload_size=4096)
    )
    with RawClient(broker.ports["mqtt"]) as raw:
        assert raw.login("big", *credential) == ACCEPTED
        raw.send(wire.subscribe(1, ("blob/#", 0)))
        assert raw.read().kind == wire.SUBACK  # type: ignore[union-attr]
        raw.send(wire.publish("blob/" + "t" * 200, b"x" * 4096))
        assert len(raw.read().payload) == 4096  # type: ignore[union-attr]
        with caplog.at_level(logging.INFO, logger="cloudsignal.broker"):
            raw.send(wire.publish("blob/1", b"x" * 4097))
            assert raw.closed_within(1.0)
    wait_for(lambda: "a payload of 4,097 bytes; the largest accepted is 4,096 bytes" in caplog.text)
    assert ":big" in caplog.text


# The will and DISCONNECT.


@pytest.fixture
def tls_and_ws_broker(
    start_broker: Callable[[BrokerOptions], BrokerThread], control_socket: Path
) -> BrokerThread:
    return start_broker(
        BrokerOptions(listeners=loopback_listeners(tls=True, websocket=True), control_socket=control_socket)
    )


@pytest.mark.parametrize("listener", ["mqtt", "mqtts"])
@pytest.mark.parametrize("then", [b"", wire.PINGREQ, b"\xff\xff\xff"], ids=["close", "more", "garbage"])
def test_disconnect_discards_the_will_whatever_follows_it(
    listener: str, then: bytes, credential: tuple[str, str], tls_and_ws_broker: BrokerThread
) -> None:
    """Stock amqtt handled DISCONNECT in a task that the end of the stream cancelled: over TLS
    (DISCONNECT then close_notify) the will was published after a clean DISCONNECT."""
    broker = tls_and_ws_broker
    watcher = Device(broker.ports["mqtt"], *credential, "watcher")
    try:
        assert watcher.connect() == 0
        assert watcher.subscribe("status/#", 1) == 1
        for n in range(5):
            raw = RawClient(broker.ports[listener], tls=listener == "mqtts")
            assert raw.login(f"mortal-{n}", *credential, will=("status/gone", b"will", 1, False)) == ACCEPTED
            raw.send(wire.DISCONNECT + then)
            raw.close()
        # A will from a connection that just drops is still published: the check can fail.
        dropped = RawClient(broker.ports[listener], tls=listener == "mqtts")
        assert dropped.login("dropped", *credential, will=("status/dropped", b"will", 1, False)) == ACCEPTED
        dropped.close()
        assert watcher.expect().topic == "status/dropped"
        assert watcher.flush() == []
    finally:
        watcher.close()


def test_disconnect_discards_the_will_over_websocket(
    credential: tuple[str, str], tls_and_ws_broker: BrokerThread
) -> None:
    broker = tls_and_ws_broker
    watcher = Device(broker.ports["mqtt"], *credential, "watcher")
    try:
        assert watcher.connect() == 0
        assert watcher.subscribe("status/#", 1) == 1
        for n in range(3):
            mortal = Device(
                broker.ports["ws"],
                *credential,
                f"ws-{n}",
                transport="websockets",
                will=("status/gone", b"will", 1, False),
            )
            assert mortal.connect() == 0
            mortal.close()
        assert watcher.flush() == []
    finally:
        watcher.close()


@pytest.mark.skipif(shutil.which("mosquitto_pub") is None, reason="mosquitto_pub is not installed")
def test_mosquitto_pub_over_tls_with_a_will_never_publishes_it(
    credential: tuple[str, str], tls_and_ws_broker: BrokerThread
) -> None:
    """The reported case: mosquitto_pub sends DISCONNECT then TLS close_notify (15/15 wills before)."""
    broker = tls_and_ws_broker
    cert, _key = tls.self_signed_paths(settings.DATA_DIR)
    watcher = Device(broker.ports["mqtt"], *credential, "watcher")
    try:
        assert watcher.connect() == 0
        assert watcher.subscribe("status/#", 1) == 1
        for n in range(5):
            result = subprocess.run(
                [
                    "mosquitto_pub",
                    *("-h", "localhost", "-p", str(broker.ports["mqtts"]), "--cafile", str(cert)),
                    *("-u", credential[0], "-P", credential[1], "-i", f"pub-{n}"),
                    *("-t", "status/reading", "-m", f"r{n}", "--will-topic", "status/gone"),
                    *("--will-payload", "will"),
                ],
                capture_output=True,
                text=True,
                timeout=20,
            )
            assert result.returncode == 0, result.stderr
        assert [m.topic for m in watcher.flush()] == ["status/reading"] * 5
    finally:
        watcher.close()


# Sessions.


def test_a_clean_session_leaves_nothing_for_the_next_connection(
    credential: tuple[str, str], device: MakeDevice, broker: BrokerThread
) -> None:
    """Stock amqtt removed a disconnected clean session only in a once-a-second monitor: a persistent
    reconnect within that second found its subscriptions (session present = 1)."""
    sender = device(*credential, "sender")
    assert sender.connect() == 0
    for _ in range(3):
        with RawClient(broker.ports["mqtt"]) as raw:
            assert raw.login("reused", *credential) == ACCEPTED
            raw.send(wire.subscribe(1, ("old/#", 1)))
            assert raw.read().kind == wire.SUBACK  # type: ignore[union-attr]
            raw.send(wire.DISCONNECT)
            assert raw.closed_within(1.0)
        again = device(*credential, "reused", clean_session=False)
        assert again.connect() == 0
        assert again.session_present is False
        sender.publish("old/1", b"for the old subscription", qos=1)
        sender.flush()
        assert again.flush() == []
        again.close()
        # And the persistent session it made is gone again at the next clean connect.
        assert device(*credential, "reused").connect() == 0


@pytest.mark.parametrize("qos", [1, 2])
def test_unacknowledged_messages_are_redelivered_with_dup_when_the_session_returns(
    qos: int, credential: tuple[str, str], device: MakeDevice, broker: BrokerThread
) -> None:
    """Stock amqtt dropped a QoS 1/2 message whose acknowledgement had not come when the connection
    ended; MQTT 3.1.1 (4.4) asks for it to be sent again, DUP set, on reconnect."""
    sender = device(*credential, "sender")
    assert sender.connect() == 0
    with RawClient(broker.ports["mqtt"]) as raw:
        assert raw.login("forgetful", *credential, clean=False) == ACCEPTED
        raw.send(wire.subscribe(1, ("jobs/#", qos)))
        assert raw.read().kind == wire.SUBACK  # type: ignore[union-attr]
        sender.publish("jobs/1", b"do it", qos=qos)
        first = raw.read()
        assert first is not None and (first.topic, first.dup) == ("jobs/1", False)
        # Gone without acknowledging.
    with RawClient(broker.ports["mqtt"]) as raw:
        assert raw.login("forgetful", *credential, clean=False) == b"\x01\x00"
        again = raw.read()
        assert again is not None and again.kind == wire.PUBLISH
        assert (again.topic, again.payload, again.qos, again.dup) == ("jobs/1", b"do it", qos, True)
        assert again.packet_id == first.packet_id
        if qos == 1:
            raw.send(wire.ack(wire.PUBACK, again.packet_id))
        else:
            raw.send(wire.ack(wire.PUBREC, again.packet_id))
            pubrel = raw.read()
            assert pubrel is not None and pubrel.kind == wire.PUBREL
            raw.send(wire.ack(wire.PUBCOMP, again.packet_id))
        raw.send(wire.DISCONNECT)
    # Acknowledged: not sent a third time.
    with RawClient(broker.ports["mqtt"]) as raw:
        assert raw.login("forgetful", *credential, clean=False) == b"\x01\x00"
        raw.send(wire.PINGREQ)
        assert raw.read().kind == wire.PINGRESP  # type: ignore[union-attr]


def test_a_pubrel_is_sent_again_when_the_session_returns_before_pubcomp(
    credential: tuple[str, str], device: MakeDevice, broker: BrokerThread
) -> None:
    sender = device(*credential, "sender")
    assert sender.connect() == 0
    with RawClient(broker.ports["mqtt"]) as raw:
        assert raw.login("half", *credential, clean=False) == ACCEPTED
        raw.send(wire.subscribe(1, ("jobs/#", 2)))
        assert raw.read().kind == wire.SUBACK  # type: ignore[union-attr]
        sender.publish("jobs/2", b"twice?", qos=2)
        publish = raw.read()
        assert publish is not None and publish.kind == wire.PUBLISH
        raw.send(wire.ack(wire.PUBREC, publish.packet_id))
        pubrel = raw.read()
        assert pubrel is not None and pubrel.kind == wire.PUBREL
    with RawClient(broker.ports["mqtt"]) as raw:
        assert raw.login("half", *credential, clean=False) == b"\x01\x00"
        again = raw.read()
        assert again is not None and (again.kind, again.packet_id) == (wire.PUBREL, publish.packet_id)
        raw.send(wire.ack(wire.PUBCOMP, again.packet_id))
