"""A bounded fuzz run: hypothesis generates MQTT packets (well formed, almost well formed, and noise)
and sends them to a real broker on a free port after a good CONNECT, or instead of one. The broker
must end with no unhandled exception in its log and still serve other devices.

Bounded by FUZZ_EXAMPLES and FUZZ_SECONDS so `make test` stays well under a minute here; set
CLOUDSIGNAL_FUZZ_EXAMPLES and CLOUDSIGNAL_FUZZ_SECONDS (and pytest's -o timeout=) for a longer
hunt. Each crash it ever found is kept below as a test of its own.
"""

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clients import hints
from clients.models import MqttClient
from cloudsignal.broker.runner import BrokerThread
from tests.broker import wire
from tests.broker.devices import Device
from workspaces.models import Organization

MakeClient = Callable[..., tuple[MqttClient, str]]
MakeDevice = Callable[..., Device]

FUZZ_EXAMPLES = int(os.environ.get("CLOUDSIGNAL_FUZZ_EXAMPLES", "150"))
FUZZ_SECONDS = float(os.environ.get("CLOUDSIGNAL_FUZZ_SECONDS", "25"))

topics = st.one_of(
    st.sampled_from(["a/b", "#", "+/x", "a/#", "", "$SYS/x", "w1/a", "a\x00b", "a//b", "/"]),
    st.text(max_size=20),
    st.binary(max_size=20),
)
packet_ids = st.integers(min_value=0, max_value=0xFFFF)
flags = st.integers(min_value=0, max_value=15)

publishes = st.builds(
    lambda topic, payload, qos, pid, retain, dup: (
        wire.publish(topic, payload, qos=qos, packet_id=pid, retain=retain, dup=dup)
        if qos < 3
        else wire.packet(0x36, wire.string(topic) + pid.to_bytes(2, "big") + payload)
    ),
    topics,
    st.binary(max_size=64),
    st.integers(min_value=0, max_value=3),
    packet_ids,
    st.booleans(),
    st.booleans(),
)
subscribes = st.builds(
    lambda pid, filters, fl: wire.subscribe(pid, *filters, flags=fl),
    packet_ids,
    st.lists(st.tuples(topics, st.integers(min_value=0, max_value=255)), max_size=4),
    st.sampled_from([2, 2, 2, 0, 3, 15]),
)
unsubscribes = st.builds(
    lambda pid, filters, fl: wire.unsubscribe(pid, *filters, flags=fl),
    packet_ids,
    st.lists(topics, max_size=4),
    st.sampled_from([2, 2, 0, 1]),
)
acks = st.builds(
    lambda kind, pid, fl: wire.ack(kind, pid, fl),
    st.sampled_from([wire.PUBACK, wire.PUBREC, wire.PUBREL, wire.PUBCOMP]),
    packet_ids,
    st.sampled_from([0, 2, 0, 1]),
)
anything = st.builds(
    lambda first, body: wire.packet(first, body),
    st.integers(min_value=0, max_value=255),
    st.binary(max_size=40),
)
packets = st.one_of(
    publishes,
    subscribes,
    unsubscribes,
    acks,
    anything,
    st.just(wire.PINGREQ),
    st.just(wire.DISCONNECT),
    st.binary(min_size=1, max_size=40),  # noise, possibly cutting a packet short
)


class BrokerLog(logging.Handler):
    """Every record any logger emits while the fuzz runs (the broker runs in this process)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def unhandled(self) -> list[str]:
        return [
            f"{r.name}: {r.getMessage()}"
            for r in self.records
            if r.exc_info
            or r.levelno >= logging.ERROR
            or "unhandled" in r.getMessage().lower()
            or "exception" in r.getMessage().lower()
            or "traceback" in r.getMessage().lower()
        ]


@pytest.fixture
def broker_log() -> Iterator[BrokerLog]:
    handler = BrokerLog()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in ("amqtt", "asyncio", "cloudsignal"):
        logging.getLogger(name).setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)
    logging.getLogger("amqtt").setLevel(logging.WARNING)


def exchange(port: int, connect: bytes | None, sent: list[bytes]) -> None:
    """Send a CONNECT (or not) and the packets, half-close, and read until the broker closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            if connect is not None:
                sock.sendall(connect)
            sock.sendall(b"".join(sent))
            sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                sock.settimeout(deadline - time.monotonic())
                if not sock.recv(65536):
                    return
        except (OSError, TimeoutError):  # reset, broken pipe, or already closed by the broker
            return


def still_serving(port: int, username: str, password: str) -> None:
    d = Device(port, username, password, "after-fuzz")
    try:
        assert d.connect() == 0
        assert d.subscribe("after/#", 1) == 1
        d.publish("after/1", b"fine", qos=1)
        assert d.expect().payload == b"fine"
    finally:
        d.close()


def test_fuzzed_packets_never_crash_the_broker(
    org: Organization, make_client: MakeClient, broker: BrokerThread, broker_log: BrokerLog
) -> None:
    client, password = make_client(org, "fuzzer")
    port = broker.ports["mqtt"]
    started = time.monotonic()
    runs = 0

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        login=st.sampled_from(["good", "good", "good", "persistent", "wrong", "none", "v5"]),
        client_id=st.sampled_from(["fz", "fz", "", "other"]),
        will=st.booleans(),
        sent=st.lists(packets, max_size=6),
    )
    def run(login: str, client_id: str, will: bool, sent: list[bytes]) -> None:
        nonlocal runs
        if time.monotonic() - started > FUZZ_SECONDS:
            return
        runs += 1
        connect = {
            "good": wire.connect(client_id, client.full_username, password, will=_will(will)),
            "persistent": wire.connect(client_id, client.full_username, password, clean=False),
            "wrong": wire.connect(client_id, client.full_username, "wrong"),
            "none": None,
            "v5": wire.connect(client_id, client.full_username, password, protocol=("MQTT", 5)),
        }[login]
        exchange(port, connect, sent)

    run()
    assert runs >= min(FUZZ_EXAMPLES, 50)
    # The fuzz's wrong passwords throttled this username from this address (tests/broker/test_abuse.py);
    # an admin lifts that the way the dashboard does, then the right password works again.
    assert hints.clear_throttle(org.pk, address="127.0.0.1") is not None
    still_serving(port, client.full_username, password)
    assert broker_log.unhandled() == []


def _will(on: bool) -> tuple[str, bytes, int, bool] | None:
    return ("fuzz/will", b"gone", 1, False) if on else None


# Crashes the fuzz run found, each kept as a regression test.
