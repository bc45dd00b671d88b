"""The amqtt seam: every amqtt internal the broker overrides, calls or reads still exists, as we use it.

cloudsignal/broker/broker.py subclasses amqtt 0.12.1's Broker and BrokerProtocolHandler and reaches into
private methods and attributes that have no stability promise. An upgrade that renamed one would turn an
override into dead code without any error, so each is listed here with the parameters we rely on, and
docs/amqtt-seam.md says why each is there. Upgrading amqtt: change PINNED, run this file, and walk the
document's checklist for each name that fails.
"""

import asyncio
import inspect
from importlib.metadata import version
from typing import Any

import pytest
from amqtt.adapters import (
    ReaderAdapter,
    StreamReaderAdapter,
    StreamWriterAdapter,
    WebSocketsReader,
    WriterAdapter,
)
from amqtt.broker import Broker, RetainedApplicationMessage, Server
from amqtt.mqtt.connack import ConnackPacket
from amqtt.mqtt.packet import MQTTFixedHeader
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.mqtt.pubrec import PubrecPacket
from amqtt.mqtt.pubrel import PubrelPacket
from amqtt.session import IncomingApplicationMessage, OutgoingApplicationMessage, Session

from cloudsignal.broker.broker import CloudSignalBroker, TenantHandler

PINNED = "0.12.1"

# Name -> the parameters we replace or pass, in order, without self. Overrides first.
BROKER_OVERRIDES: dict[str, tuple[str, ...]] = {
    "_start_listeners": (),
    "_client_connected": ("listener_name", "reader", "writer"),
    "_cleanup_session": ("client_id",),
    "_delete_session": ("client_id",),
    "_handle_message_delivery": ("client_session", "handler", "wait_deliver"),
    "_run_broadcast": ("running_tasks",),
    "_publish_retained_messages_for_subscription": ("subscription", "session"),
    "_handle_disconnect": ("client_session", "handler", "disconnect_waiter"),
    "_topic_filtering": ("session", "topic", "action"),
    "retain_message": ("source_session", "topic_name", "data", "qos"),
    "add_subscription": ("subscription", "session"),
    "_del_subscription": ("a_filter", "session"),
    "start": (),
    "shutdown": (),
}
HANDLER_OVERRIDES: dict[str, tuple[str, ...]] = {
    "handle_publish": ("publish_packet",),
    "handle_subscribe": ("subscribe",),
    "handle_unsubscribe": ("unsubscribe",),
    "mqtt_publish": ("topic", "data", "qos", "retain", "ack_timeout"),
    "_reader_loop": (),
}
CALLED: list[tuple[type, str, tuple[str, ...]]] = [
    (Broker, "_client_message_loop", ("client_session", "handler")),
    (Broker, "_broadcast_message", ("session", "topic", "data", "force_qos")),
    (Broker, "_retain_broadcast_message", ("broadcast", "qos", "target_session")),
    (Broker, "_get_handler", ("session",)),
    (Broker, "_matches", ("topic", "a_filter")),
    (Broker, "stream_connected", ("reader", "writer", "listener_name")),
    (Broker, "ws_connected", ("websocket", "listener_name")),
    (Server, "__init__", ("listener_name", "server_instance", "max_connections")),
    (Server, "acquire_connection", ()),
    (Server, "release_connection", ()),
    (BrokerProtocolHandler, "init_from_connect", ("reader", "writer", "plugins_manager", "loop")),
    (BrokerProtocolHandler, "attach", ("session", "reader", "writer")),
    (BrokerProtocolHandler, "mqtt_connack_authorize", ("authorize",)),
    (BrokerProtocolHandler, "start", ()),
    (BrokerProtocolHandler, "handle_connection_closed", ()),
    (BrokerProtocolHandler, "handle_disconnect", ("disconnect",)),
    (BrokerProtocolHandler, "handle_puback", ("puback",)),
    (BrokerProtocolHandler, "handle_pubrec", ("pubrec",)),
    (BrokerProtocolHandler, "handle_pubrel", ("pubrel",)),
    (BrokerProtocolHandler, "handle_pubcomp", ("pubcomp",)),
    (BrokerProtocolHandler, "handle_pingreq", ("pingreq",)),
    (BrokerProtocolHandler, "_handle_message_flow", ("app_message",)),
    (BrokerProtocolHandler, "_retry_deliveries", ()),
    (BrokerProtocolHandler, "stop", ()),
    (MQTTFixedHeader, "__init__", ("packet_type", "flags", "length")),
    (ConnackPacket, "build", ("session_parent", "return_code")),
    (RetainedApplicationMessage, "__init__", ("source_session", "topic", "data", "qos")),
    (OutgoingApplicationMessage, "build_publish_packet", ("dup",)),
    (PubrecPacket, "build", ("packet_id",)),
    (PubrelPacket, "build", ("packet_id",)),
    (IncomingApplicationMessage, "__init__", ("packet_id", "topic", "qos", "data", "retain")),
    (OutgoingApplicationMessage, "__init__", ("packet_id", "topic", "qos", "data", "retain")),
    (ReaderAdapter, "read", ("n",)),
    (ReaderAdapter, "feed_eof", ()),
    (WriterAdapter, "write", ("data",)),
    (WriterAdapter, "drain", ()),
    (WriterAdapter, "get_peer_info", ()),
    (WriterAdapter, "get_ssl_info", ()),
    (WriterAdapter, "close", ()),
]
# Attributes of a Broker instance we read or change.
BROKER_ATTRIBUTES = (
    "_sessions",
    "_subscriptions",
    "_retained_messages",
    "_servers",
    "_broadcast_queue",
    "plugins_manager",
    "retained_messages",
)
# Attributes of a Session we read or set on the connection path.
SESSION_ATTRIBUTES = (
    "transitions",
    "delivered_message_queue",
    "client_id",
    "username",
    "password",
    "remote_address",
    "remote_port",
    "keep_alive",
    "parent",
    "clean_session",
    "will_flag",
    "will_message",
    "will_topic",
    "will_qos",
    "will_retain",
    "inflight_out",
    "retained_messages",
    "next_packet_id",
)


def parameters(owner: type, name: str) -> tuple[str, ...]:
    """The parameter names of `owner.name` (without self/cls), or fail naming what is missing."""
    if inspect.getattr_static(owner, name, None) is None:
        pytest.fail(f"amqtt {version('amqtt')}: {owner.__qualname__}.{name} no longer exists")
    params = inspect.signature(getattr(owner, name)).parameters
    return tuple(p for p in params if p not in ("self", "cls"))


def test_the_installed_amqtt_is_the_pinned_version() -> None:
    """The seam below was checked against exactly this version."""
    assert version("amqtt") == PINNED


@pytest.mark.parametrize(("name", "expected"), BROKER_OVERRIDES.items(), ids=list(BROKER_OVERRIDES))
def test_each_broker_override_still_overrides_something(name: str, expected: tuple[str, ...]) -> None:
    """Each Broker method we override exists in amqtt with the parameters we replace."""
    assert parameters(Broker, name) == expected
    assert name in vars(CloudSignalBroker)


@pytest.mark.parametrize(("name", "expected"), HANDLER_OVERRIDES.items(), ids=list(HANDLER_OVERRIDES))
def test_each_handler_override_still_overrides_something(name: str, expected: tuple[str, ...]) -> None:
    """Each BrokerProtocolHandler method we override exists in amqtt with the parameters we replace."""
    assert parameters(BrokerProtocolHandler, name) == expected
    assert name in vars(TenantHandler)


def test_every_override_is_declared() -> None:
    """A new override of an amqtt name must be added to this seam (and to docs/amqtt-seam.md)."""
    ours = {n for n in vars(CloudSignalBroker) if not n.startswith("__") and hasattr(Broker, n)}
    assert ours == set(BROKER_OVERRIDES)
    ours = {n for n in vars(TenantHandler) if not n.startswith("__") and hasattr(BrokerProtocolHandler, n)}
    assert ours == set(HANDLER_OVERRIDES)


@pytest.mark.parametrize(
    ("owner", "name", "expected"), CALLED, ids=[f"{o.__name__}.{n}" for o, n, _ in CALLED]
)
def test_each_amqtt_internal_we_call_still_exists(owner: type, name: str, expected: tuple[str, ...]) -> None:
    """Each amqtt method we call takes the parameters we pass (their names and order)."""
    assert parameters(owner, name)[: len(expected)] == expected


def test_the_broker_and_session_attributes_we_use_still_exist() -> None:
    """A Broker instance and a Session have every attribute the connection path reads or sets."""

    async def make() -> Any:
        return Broker({"listeners": {"default": {"type": "tcp", "bind": "127.0.0.1:0"}}, "plugins": {}})

    broker = asyncio.run(make())
    assert [a for a in BROKER_ATTRIBUTES if not hasattr(broker, a)] == []
    session = Session()
    assert [a for a in SESSION_ATTRIBUTES if not hasattr(session, a)] == []
    assert {"connect", "disconnect"} <= {t for t in dir(session.transitions) if not t.startswith("_")}


def test_the_adapter_internals_that_tell_a_hung_up_client_still_exist() -> None:
    """admission.hung_up reads private attributes of amqtt's adapters: the stream reader (at_eof), the
    stream writer (its transport) and the WebSocket reader's connection (its state)."""

    async def check() -> None:
        stream = asyncio.StreamReader()
        assert StreamReaderAdapter(stream)._reader is stream
        assert "_writer" in vars(StreamWriterAdapter(object()))
        assert "_protocol" in vars(WebSocketsReader(object()))

    asyncio.run(check())


def test_amqtt_writes_each_packet_with_one_write() -> None:
    """packets.MeteredWriter counts PUBLISH packets by the first byte of each write."""
    from amqtt.mqtt.publish import PublishPacket

    writes: list[bytes] = []

    class Recorder(WriterAdapter):
        def write(self, data: bytes) -> None:
            writes.append(data)

        async def drain(self) -> None:
            return None

        def get_peer_info(self) -> None:
            return None

        def get_ssl_info(self) -> None:
            return None

        async def close(self) -> None:
            return None

    packet = PublishPacket.build("a/b", b"payload", None, False, 0, False)
    asyncio.run(packet.to_stream(Recorder()))
    assert len(writes) == 1 and writes[0][0] >> 4 == 3


def test_the_internals_of_the_delivery_path_still_exist() -> None:
    """The subscription index replaces `_subscriptions` once, in __init__: stock `start` must only
    clear it (a new dict there would silently bypass the index). A QoS 0 message is written at once
    only when no packet waits for the handler's `_write_lock`."""
    assert "self._subscriptions: dict" in inspect.getsource(Broker.__init__)
    assert "self._subscriptions =" not in inspect.getsource(Broker.start)
    assert "self._write_lock" in inspect.getsource(BrokerProtocolHandler.__mro__[1].__init__)
