"""MQTT 3.1.1 on raw sockets, for tests that need exact control over the wire: packets built byte by byte
(also invalid ones), and a client that reads what the broker sends back."""

import contextlib
import socket
import ssl
import time
from dataclasses import dataclass

PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 3, 4, 5, 6, 7
CONNACK, SUBACK, UNSUBACK, PINGRESP = 2, 9, 11, 13
DISCONNECT = bytes([0xE0, 0x00])
PINGREQ = bytes([0xC0, 0x00])


def string(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return len(data).to_bytes(2, "big") + data


def remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + remaining_length(len(body)) + body


def connect(
    client_id: str,
    username: str | None,
    password: str | None,
    *,
    clean: bool = True,
    keepalive: int = 60,
    will: tuple[str, bytes, int, bool] | None = None,
    protocol: tuple[str, int] = ("MQTT", 4),
) -> bytes:
    flags = 0x02 if clean else 0
    payload = string(client_id)
    if will is not None:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += string(topic) + string(message)
    if username is not None:
        flags |= 0x80
        payload += string(username)
    if password is not None:
        flags |= 0x40
        payload += string(password)
    name, level = protocol
    variable = string(name) + bytes([level, flags]) + keepalive.to_bytes(2, "big")
    if level == 5:
        variable += b"\x00"  # no properties
    return packet(0x10, variable + payload)


def publish(
    topic: str | bytes,
    payload: bytes = b"x",
    *,
    qos: int = 0,
    packet_id: int = 1,
    retain: bool = False,
    dup: bool = False,
) -> bytes:
    first = 0x30 | (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    body = string(topic) + (packet_id.to_bytes(2, "big") if qos else b"") + payload
    return packet(first, body)


def subscribe(packet_id: int, *filters: tuple[str | bytes, int], flags: int = 0x02) -> bytes:
    body = packet_id.to_bytes(2, "big") + b"".join(string(f) + bytes([q]) for f, q in filters)
    return packet(0x80 | flags, body)


def unsubscribe(packet_id: int, *filters: str | bytes, flags: int = 0x02) -> bytes:
    return packet(0xA0 | flags, packet_id.to_bytes(2, "big") + b"".join(string(f) for f in filters))


def ack(kind: int, packet_id: int, flags: int = 0) -> bytes:
    return packet((kind << 4) | flags, packet_id.to_bytes(2, "big"))


@dataclass
class Received:
    kind: int
    flags: int
    body: bytes

    @property
    def qos(self) -> int:
        return (self.flags >> 1) & 3

    @property
    def dup(self) -> bool:
        return bool(self.flags & 0x08)

    @property
    def topic(self) -> str:
        length = int.from_bytes(self.body[:2], "big")
        return self.body[2 : 2 + length].decode()

    @property
    def packet_id(self) -> int:
        if self.kind == PUBLISH:
            at = 2 + int.from_bytes(self.body[:2], "big")
            return int.from_bytes(self.body[at : at + 2], "big")
        return int.from_bytes(self.body[:2], "big")

    @property
    def payload(self) -> bytes:
        at = 2 + int.from_bytes(self.body[:2], "big") + (2 if self.qos else 0)
        return self.body[at:]


class RawClient:
    """One socket to the broker: send bytes, read whole packets, tell whether the broker closed it."""

    def __init__(self, port: int, *, tls: bool = False, timeout: float = 5.0) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock)
        self.sock = sock
        self._buffer = b""

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def login(self, client_id: str, username: str, password: str, **kwargs: object) -> bytes:
        """CONNECT and return the CONNACK's two bytes (session present, return code)."""
        self.send(connect(client_id, username, password, **kwargs))  # type: ignore[arg-type]
        received = self.read(5)
        assert received is not None and received.kind == CONNACK, received
        return received.body

    def read(self, timeout: float = 5.0) -> Received | None:
        """The next packet, or None if the broker closed the connection first. Fails on a timeout."""
        deadline = time.monotonic() + timeout
        while True:
            parsed = self._parse()
            if parsed is not None:
                return parsed
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no packet arrived")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise AssertionError("no packet arrived") from None
            except (ConnectionResetError, ssl.SSLError):
                return None
            if not chunk:
                return None
            self._buffer += chunk

    def closed_within(self, timeout: float) -> bool:
        """True when the broker closes the connection within `timeout` (packets before that are skipped)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                if self.read(left) is None:
                    return True
            except AssertionError:
                return False
            except OSError:
                return True
        return False

    def _parse(self) -> Received | None:
        data = self._buffer
        if len(data) < 2:
            return None
        length, index, shift = 0, 1, 0
        while True:
            if index >= len(data):
                return None
            byte = data[index]
            length |= (byte & 0x7F) << shift
            index += 1
            shift += 7
            if not byte & 0x80:
                break
        if len(data) < index + length:
            return None
        self._buffer = data[index + length :]
        return Received(data[0] >> 4, data[0] & 0x0F, data[index : index + length])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
