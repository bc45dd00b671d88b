"""A device that reads slower than messages arrive for it costs the broker bounded memory: past its
queue limit its QoS 0 messages are dropped first, and one that stays behind is disconnected, "too
slow" in its connection history. Another subscriber of the same topic is not held back."""

from collections.abc import Callable
from pathlib import Path

from clients.models import ConnectionRecord, MqttClient
from cloudsignal.broker.config import BrokerOptions, loopback_listeners
from cloudsignal.broker.runner import BrokerThread
from tests.broker import wire
from tests.broker.devices import Device
from tests.broker.wire import PUBACK, SUBACK, RawClient
from tests.support.waiting import wait_for
from workspaces.models import Organization

MakeClient = Callable[..., tuple[MqttClient, str]]

LIMIT = 256 * 1024
PAYLOAD = b"m" * 8 * 1024


def test_a_subscriber_that_stops_reading_is_disconnected_as_too_slow_with_bounded_memory(
    org: Organization,
    make_client: MakeClient,
    start_broker: Callable[[BrokerOptions], BrokerThread],
    control_socket: Path,
) -> None:
    broker = start_broker(
        BrokerOptions(
            listeners=loopback_listeners(),
            control_socket=control_socket,
            max_queued_bytes=LIMIT,
            slow_seconds=1,
        )
    )
    core = broker.broker
    assert core is not None
    port = broker.ports["mqtt"]
    client, password = make_client(org, "sensor-1")
    username = client.full_username

    slow = RawClient(port)
    publisher = RawClient(port)
    fast = Device(port, username, password, "fast")
    try:
        assert slow.login("slow", username, password) == b"\x00\x00"
        slow.send(wire.subscribe(1, ("t", 0)))
        received = slow.read()
        assert received is not None and received.kind == SUBACK
        # From here on the slow subscriber reads nothing.
        assert fast.connect() == 0
        assert fast.subscribe("t", 0) == 0
        assert publisher.login("pub", username, password) == b"\x00\x00"
        key = f"{client.workspace_id}:slow"

        async def queued() -> int | None:
            conn = core.registry.connections.get(key)
            return None if conn is None else conn.handler.queued()

        # QoS 1 from the publisher, in steps of 16 acknowledged messages: delivered at QoS 0 (the
        # subscriptions'), so past the limit they are the ones dropped.
        packet_id = 0
        while (now := broker.call(queued())) is not None:
            assert now <= 4 * LIMIT + len(PAYLOAD), "what waits for the slow subscriber is unbounded"
            assert packet_id < 20_000, "the slow subscriber was never disconnected"
            for _ in range(16):
                packet_id += 1
                publisher.send(wire.publish("t", PAYLOAD, qos=1, packet_id=packet_id % 65_535 + 1))
            for _ in range(16):
                ack = publisher.read()
                assert ack is not None and ack.kind == PUBACK

        record = wait_for(
            lambda: ConnectionRecord.objects.filter(client=client, mqtt_client_id="slow").first()
        )
        assert record is not None
        assert record.end_reason == ConnectionRecord.EndReason.TOO_SLOW
        waiting, dropped = (int(part.split()[0].replace(",", "")) for part in record.detail.split("; "))
        assert waiting > LIMIT and dropped > 0, record.detail
        assert slow.closed_within(5)
        # The other subscriber kept up and is still connected.
        assert fast.flush() is not None
        assert not fast.disconnected.is_set()
    finally:
        fast.close()
        slow.close()
        publisher.close()
