"""Reading MQTT packets whole, under the size limit, and checking them against MQTT 3.1.1 before amqtt
decodes them.

amqtt decodes straight from the socket and forgives what the specification says must end the
connection: QoS 3, wildcards or invalid UTF-8 in a PUBLISH topic (it turns bad UTF-8 into the text
"b'...'"), reserved flag bits, a second CONNECT, server-only packet types. Here each packet is read
as bytes first (its announced length is checked before the body is read, so a client announcing
256 MiB is refused at once), `violation()` says what is wrong with it, if anything, and only a good
packet is handed to amqtt's decoder through `BufferReader`.

The size limit is on the payload a device publishes, the number a user thinks in: a PUBLISH may carry
`max_payload` bytes whatever its topic; any packet longer than that plus the largest topic is refused
from its header alone.

The connection is metered for its history: bytes each way here (MeteredReader, MeteredWriter), PUBLISH
packets received by the handler's reader loop, PUBLISH packets sent here.
"""

import asyncio
import ssl
from struct import unpack_from

from amqtt.adapters import ReaderAdapter, WriterAdapter
from amqtt.errors import NoDataError

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

# A PUBLISH's remaining length is its topic (2 + up to 65,535 bytes), its packet id (2) and its payload.
PUBLISH_OVERHEAD = 2 + 65_535 + 2
# The fixed header itself: one type byte and up to four length bytes.
FIXED_HEADER_MAX = 5

# The flags (low four bits of the first byte) each packet type must carry (MQTT 3.1.1, 2.2.2).
_REQUIRED_FLAGS = {
    CONNECT: 0,
    PUBACK: 0,
    PUBREC: 0,
    PUBREL: 0b0010,
    PUBCOMP: 0,
    SUBSCRIBE: 0b0010,
    UNSUBSCRIBE: 0b0010,
    PINGREQ: 0,
    DISCONNECT: 0,
}
_NAMES = {
    CONNECT: "CONNECT",
    PUBLISH: "PUBLISH",
    PUBACK: "PUBACK",
    PUBREC: "PUBREC",
    PUBREL: "PUBREL",
    PUBCOMP: "PUBCOMP",
    SUBSCRIBE: "SUBSCRIBE",
    UNSUBSCRIBE: "UNSUBSCRIBE",
    PINGREQ: "PINGREQ",
    DISCONNECT: "DISCONNECT",
}
# Packets whose remaining length is fixed by the specification.
_FIXED_LENGTH = {PUBACK: 2, PUBREC: 2, PUBREL: 2, PUBCOMP: 2, PINGREQ: 0, DISCONNECT: 0}


class PacketTooLarge(Exception):
    pass


class Packet:
    """One packet as read from the wire: its first byte and its body (the remaining length's bytes)."""

    __slots__ = ("body", "first_byte")

    def __init__(self, first_byte: int, body: bytes) -> None:
        self.first_byte = first_byte
        self.body = body

    @property
    def type(self) -> int:
        return self.first_byte >> 4

    @property
    def flags(self) -> int:
        return self.first_byte & 0x0F

    def name(self) -> str:
        return _NAMES.get(self.type, f"packet type {self.type}")

    def wire(self) -> bytes:
        """The packet as it was sent, for amqtt's decoder."""
        return bytes([self.first_byte]) + encode_remaining_length(len(self.body)) + self.body


def max_remaining_length(max_payload: int) -> int:
    return max_payload + PUBLISH_OVERHEAD


def max_packet_size(max_payload: int) -> int:
    """The largest whole packet, fixed header included (the WebSocket listener's frame limit)."""
    return FIXED_HEADER_MAX + max_remaining_length(max_payload)


async def read_packet(reader: ReaderAdapter, max_payload: int) -> Packet | None:
    """The next whole packet, or None at the end of the stream. Raises PacketTooLarge from the header,
    before the body is read, and NoDataError when the stream ends inside a packet."""
    try:
        first = await reader.read(1)
    except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError):
        return None  # amqtt's stream adapter reads exactly: the end of the stream raises
    if not first:
        return None
    length = 0
    for index in range(4):
        byte = await _read_exactly(reader, 1)
        length |= (byte[0] & 0x7F) << (7 * index)
        if not byte[0] & 0x80:
            break
    else:
        raise PacketTooLarge("a remaining length of more than four bytes")
    if length > max_remaining_length(max_payload):
        raise PacketTooLarge(
            f"a packet of {length:,} bytes; the largest accepted is a payload of {max_payload:,} bytes"
        )
    body = await _read_exactly(reader, length) if length else b""
    return Packet(first[0], body)


async def _read_exactly(reader: ReaderAdapter, n: int) -> bytes:
    try:
        data = await reader.read(n)
    except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError):
        data = b""
    if len(data) < n:
        raise NoDataError("the connection ended inside a packet")
    return data


def encode_remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def qos0_publish(topic: str, payload: bytes | bytearray) -> bytes:
    """A QoS 0 PUBLISH, encoded at once (what amqtt's PublishPacket builds, without its objects)."""
    name = topic.encode()
    body_length = 2 + len(name) + len(payload)
    return b"".join(
        (
            bytes((PUBLISH << 4,)),
            encode_remaining_length(body_length),
            len(name).to_bytes(2, "big"),
            name,
            bytes(payload),
        )
    )


class BufferReader(ReaderAdapter):
    """A ReaderAdapter over bytes already read, so amqtt can decode a packet we have checked."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._position = 0

    async def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else self._position + n
        chunk = bytes(self._data[self._position : end])
        self._position += len(chunk)
        return chunk

    def feed_eof(self) -> None:
        pass


# Checking packets. Each returns why the packet breaks MQTT 3.1.1, or None.


def connect_violation(packet: Packet) -> str | None:
    """What is wrong with the first packet of a connection, which must be a CONNECT. An unsupported
    protocol level is not reported here (it gets CONNACK 0x01: see `protocol_level`)."""
    if packet.type != CONNECT:
        return f"{packet.name()} before CONNECT"
    if packet.flags:
        return "reserved flag bits set on CONNECT"
    return None


def protocol_of(packet: Packet) -> tuple[str, int] | None:
    """The protocol name and level a CONNECT announces, or None when it is too short to say."""
    body = packet.body
    if len(body) < 2:
        return None
    (name_length,) = unpack_from("!H", body, 0)
    if len(body) < 2 + name_length + 1:
        return None
    name = body[2 : 2 + name_length].decode("utf-8", errors="replace")
    return name, body[2 + name_length]


def violation(packet: Packet, max_payload: int) -> str | None:
    """What is wrong with a packet a connected client sent, or None. Any answer ends the connection."""
    kind, flags, body = packet.type, packet.flags, packet.body
    if kind == CONNECT:
        return "a second CONNECT"
    if kind in (0, 15):
        return f"reserved packet type {kind}"
    if kind in (CONNACK, SUBACK, UNSUBACK, PINGRESP):
        return f"packet type {kind}, which only a server sends"
    if kind == PUBLISH:
        return _publish_violation(flags, body, max_payload)
    if flags != _REQUIRED_FLAGS[kind]:
        return f"reserved flag bits {flags:#06b} on {packet.name()}"
    if kind in _FIXED_LENGTH and len(body) != _FIXED_LENGTH[kind]:
        return f"{packet.name()} of {len(body)} bytes"
    if kind in (SUBSCRIBE, UNSUBSCRIBE):
        return _filters_violation(kind, body)
    return None


def _publish_violation(flags: int, body: bytes, max_payload: int) -> str | None:
    qos = (flags >> 1) & 0x03
    if qos == 3:
        return "PUBLISH with QoS 3"
    topic, offset, problem = _string(body, 0)
    if problem:
        return f"PUBLISH topic {problem}"
    assert topic is not None
    if problem := topic_problem(topic, wildcards=False):
        return f"PUBLISH topic {problem}"
    if qos:
        if len(body) < offset + 2:
            return "PUBLISH without a packet identifier"
        if unpack_from("!H", body, offset)[0] == 0:
            return "PUBLISH with packet identifier 0"
        offset += 2
    payload = len(body) - offset
    if payload > max_payload:
        return f"a payload of {payload:,} bytes; the largest accepted is {max_payload:,} bytes"
    return None


def _filters_violation(kind: int, body: bytes) -> str | None:
    name = _NAMES[kind]
    if len(body) < 2:
        return f"{name} without a packet identifier"
    if unpack_from("!H", body, 0)[0] == 0:
        return f"{name} with packet identifier 0"
    offset, count = 2, 0
    while offset < len(body):
        topic_filter, offset, problem = _string(body, offset)
        if problem:
            return f"{name} filter {problem}"
        assert topic_filter is not None
        if problem := topic_problem(topic_filter, wildcards=True):
            return f"{name} filter {problem}"
        if kind == SUBSCRIBE:
            if offset >= len(body):
                return "SUBSCRIBE filter without its QoS byte"
            requested = body[offset]
            offset += 1
            if requested > 2:
                return f"SUBSCRIBE requesting QoS byte {requested:#04x}"
        count += 1
    if count == 0:
        return f"{name} without any topic filter"
    return None


def _string(body: bytes, offset: int) -> tuple[str | None, int, str | None]:
    """An MQTT UTF-8 string at `offset`: (text, offset after it, problem)."""
    if len(body) < offset + 2:
        return None, offset, "truncated"
    (length,) = unpack_from("!H", body, offset)
    end = offset + 2 + length
    if len(body) < end:
        return None, offset, "truncated"
    try:
        text = body[offset + 2 : end].decode("utf-8")
    except UnicodeDecodeError:
        return None, end, "is not valid UTF-8"
    return text, end, None


def topic_problem(topic: str, *, wildcards: bool) -> str | None:
    """Why a topic (or, with `wildcards`, a filter) breaks MQTT 3.1.1 section 4.7, or None."""
    if topic == "":
        return "is empty"
    if "\x00" in topic:
        return "contains NUL"
    if not wildcards:
        if "+" in topic or "#" in topic:
            return f"{topic!r} contains a wildcard"
        return None
    levels = topic.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return f"{topic!r} misplaces '#'"
        if "+" in level and level != "+":
            return f"{topic!r} misplaces '+'"
    return None


# Metering, for the connection history.


class MeteredReader(ReaderAdapter):
    """Counts the bytes a device sends."""

    def __init__(self, inner: ReaderAdapter) -> None:
        self._inner = inner
        self.bytes_in = 0

    async def read(self, n: int = -1) -> bytes:
        data = await self._inner.read(n)
        self.bytes_in += len(data)
        return data

    def feed_eof(self) -> None:
        self._inner.feed_eof()


class MeteredWriter(WriterAdapter):
    """Counts bytes and PUBLISH packets sent (amqtt writes each packet with one `write` call), and
    gathers the packets written to a TCP or TLS connection in one turn of the event loop into one
    socket write: stock amqtt made a system call per packet (16% of the broker's time under QoS 1).
    `drain` and `close` send what is gathered first, so nothing waits past the end of the turn."""

    def __init__(self, inner: WriterAdapter) -> None:
        self._inner = inner
        self.bytes_out = 0
        self.messages_out = 0
        stream = getattr(inner, "_writer", None)
        # Reads amqtt's adapter internals: see docs/amqtt-seam.md. WebSocket's writer buffers until
        # drain on its own.
        self._transport: asyncio.WriteTransport | None = (
            stream.transport if isinstance(stream, asyncio.StreamWriter) else None
        )
        self._gathered: list[bytes] = []
        self._gathered_bytes = 0

    def write(self, data: bytes) -> None:
        self.bytes_out += len(data)
        if data and data[0] >> 4 == PUBLISH:
            self.messages_out += 1
        if self._transport is None:
            self._inner.write(data)
            return
        if not self._gathered:
            asyncio.get_running_loop().call_soon(self._send_gathered)
        self._gathered.append(data)
        self._gathered_bytes += len(data)

    def _send_gathered(self) -> None:
        if self._gathered:
            data = self._gathered[0] if len(self._gathered) == 1 else b"".join(self._gathered)
            self._gathered.clear()
            self._gathered_bytes = 0
            self._inner.write(data)

    async def drain(self) -> None:
        self._send_gathered()
        await self._inner.drain()

    def transport(self) -> asyncio.WriteTransport | None:
        """The socket's transport when writes go straight to it (TCP and TLS; not WebSocket)."""
        return self._transport

    def queued(self) -> int:
        """Bytes written that the device has not taken yet (0 where unknown: WebSocket)."""
        if self._transport is None:
            return 0
        return self._gathered_bytes + self._transport.get_write_buffer_size()

    def get_peer_info(self) -> tuple[str, int] | None:
        return self._inner.get_peer_info()

    def get_ssl_info(self) -> ssl.SSLObject | None:
        return self._inner.get_ssl_info()

    async def close(self) -> None:
        self._send_gathered()
        await self._inner.close()
