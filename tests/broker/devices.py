"""A paho-mqtt device for tests: connect, publish, subscribe and wait on what happens, with deadlines."""

import queue
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

WAIT = 10.0
# paho 2 reports MQTT 3.1.1 CONNACK codes as MQTT 5 reason codes; tests speak 3.1.1.
_CONNACK_V3 = {0: 0, 132: 1, 133: 2, 136: 3, 134: 4, 135: 5}


@dataclass
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Device:
    def __init__(
        self,
        port: int,
        username: str | None,
        password: str | None,
        client_id: str = "",
        *,
        clean_session: bool = True,
        transport: str = "tcp",
        ca_file: str | None = None,
        keepalive: int = 60,
        will: tuple[str, bytes, int, bool] | None = None,
    ) -> None:
        self.port = port
        self.keepalive = keepalive
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
            transport=transport,  # type: ignore[arg-type]
            reconnect_on_failure=False,
        )
        if transport == "websockets":
            self.client.ws_set_options(path="/mqtt")
        if ca_file:
            self.client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)
        if username is not None:
            self.client.username_pw_set(username, password)
        if will is not None:
            topic, payload, qos, retain = will
            self.client.will_set(topic, payload, qos, retain)
        self.connack: queue.Queue[int] = queue.Queue()
        self.disconnected = threading.Event()
        self.messages: queue.Queue[Message] = queue.Queue()
        self.subacks: dict[int, list[int]] = {}
        self._suback_event = threading.Condition()
        self.session_present: bool | None = None
        self._spent_markers: set[str] = set()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    # Callbacks (paho's network thread)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self.session_present = bool(flags.session_present)
        self.connack.put(_CONNACK_V3.get(reason_code.value, reason_code.value))

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        self.disconnected.set()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        if msg.topic in self._spent_markers:
            return  # a second copy of a flush marker (e.g. also matched by `#`)
        self.messages.put(Message(msg.topic, msg.payload, msg.qos, bool(msg.retain)))

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        with self._suback_event:
            self.subacks[mid] = [rc.value for rc in reason_codes]
            self._suback_event.notify_all()

    # Actions

    def connect(self, timeout: float = WAIT) -> int:
        """Connect and return the CONNACK code (0 accepted; 3 server unavailable; 4/5 refused)."""
        self.client.connect("127.0.0.1", self.port, keepalive=self.keepalive)
        self.client.loop_start()
        try:
            return self.connack.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no CONNACK") from None

    def subscribe(self, topic_filter: str, qos: int = 0, timeout: float = WAIT) -> int:
        """Subscribe and return the SUBACK code (granted QoS, or 128 for refused)."""
        result, mid = self.client.subscribe(topic_filter, qos)
        assert result == mqtt.MQTT_ERR_SUCCESS and mid is not None
        with self._suback_event:
            if not self._suback_event.wait_for(lambda: mid in self.subacks, timeout):
                raise AssertionError(f"no SUBACK for {topic_filter}")
            return self.subacks[mid][0]

    def publish(self, topic: str, payload: bytes | str = b"x", qos: int = 0, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos, retain)
        if qos:
            info.wait_for_publish(WAIT)

    def expect(self, timeout: float = WAIT) -> Message:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no message arrived") from None

    def flush(self) -> list[Message]:
        """Round-trip a marker through the broker and return what arrived before it.

        The broker handles one client's packets in order and broadcasts through one queue, so once
        our own marker is back, everything published before it has been routed.
        """
        marker = f"flush/{uuid.uuid4().hex}"
        assert self.subscribe(marker, 1) == 1
        self.publish(marker, b"marker", qos=1)
        seen: list[Message] = []
        deadline = time.monotonic() + WAIT
        while True:
            message = self.expect(max(0.0, deadline - time.monotonic()))
            if message.topic == marker:
                self._spent_markers.add(marker)
                self.client.unsubscribe(marker)
                return seen
            if not message.topic.startswith("flush/"):  # other devices' markers
                seen.append(message)

    def wait_disconnected(self, timeout: float = WAIT) -> bool:
        return self.disconnected.wait(timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _string(value: str) -> bytes:
    data = value.encode()
    return len(data).to_bytes(2, "big") + data


def _remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def connect_packet(client_id: str, username: str, password: str, keepalive: int = 60) -> bytes:
    """An MQTT 3.1.1 CONNECT with clean session, for tests that need exact control over the wire."""
    variable = _string("MQTT") + bytes([4, 0x80 | 0x40 | 0x02]) + keepalive.to_bytes(2, "big")
    payload = _string(client_id) + _string(username) + _string(password)
    body = variable + payload
    return bytes([0x10]) + _remaining_length(len(body)) + body


def packet_header(packet_type: int, remaining_length: int) -> bytes:
    return bytes([packet_type << 4]) + _remaining_length(remaining_length)


def closed_within(sock: socket.socket, timeout: float) -> bool:
    """Read until the peer closes the connection (True) or the deadline passes (False)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return False


def raw_socket(port: int, source: str = "127.0.0.1") -> socket.socket:
    """A TCP connection to the broker from `source` (any 127.x.y.z address is this machine)."""
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))


def raw_login(
    port: int, username: str, password: str, client_id: str = "raw", source: str = "127.0.0.1"
) -> int:
    """CONNECT from `source` and return the CONNACK code (-1: closed without one)."""
    with raw_socket(port, source) as sock:
        sock.sendall(connect_packet(client_id, username, password))
        answer = b""
        while len(answer) < 4:
            chunk = sock.recv(4 - len(answer))
            if not chunk:
                return -1
            answer += chunk
        return answer[3]
