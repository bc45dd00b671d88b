"""Refusing MQTT packets larger than the configured maximum before reading their body.

amqtt reads a packet's fixed header byte by byte (type, then the variable-length "remaining length")
and then the body, all through one reader. This wrapper follows the same sequence: once the length is
known it raises `PacketTooLarge` if the packet would exceed the limit, so a client announcing 256 MiB
is disconnected at once instead of being buffered.

Following the packets also meters the connection for its history: bytes and PUBLISH packets each way,
and whether the device said DISCONNECT (a normal end) before its socket closed.
"""

import ssl

from amqtt.adapters import ReaderAdapter, WriterAdapter

PUBLISH = 3
DISCONNECT = 14


class PacketTooLarge(Exception):
    pass


class SizeLimitedReader(ReaderAdapter):
    def __init__(self, inner: ReaderAdapter, max_packet_size: int) -> None:
        self._inner = inner
        self._max = max_packet_size
        # Where we are in the current packet: None = at a packet start; otherwise bytes of the body left.
        self._body_left: int | None = None
        self._length_bytes: list[int] = []
        self.bytes_in = 0
        self.messages_in = 0
        self.said_disconnect = False
        # Why the reader stopped the connection, for the history ("packet of ... bytes ...").
        self.violation = ""

    async def read(self, n: int = -1) -> bytes:
        data = await self._inner.read(n)
        self.bytes_in += len(data)
        try:
            self._follow(data)
        except PacketTooLarge as exc:
            self.violation = str(exc)
            raise
        return data

    def feed_eof(self) -> None:
        self._inner.feed_eof()

    def _follow(self, data: bytes) -> None:
        index = 0
        while index < len(data):
            if self._body_left is None:
                # The first byte of a packet: its type. The length bytes follow.
                self._body_left = -1
                self._length_bytes = []
                kind = data[index] >> 4
                if kind == PUBLISH:
                    self.messages_in += 1
                elif kind == DISCONNECT:
                    self.said_disconnect = True
                index += 1
            elif self._body_left == -1:
                byte = data[index]
                index += 1
                self._length_bytes.append(byte)
                if byte & 0x80 == 0 or len(self._length_bytes) == 4:
                    length = sum((b & 0x7F) << (7 * i) for i, b in enumerate(self._length_bytes))
                    # 1 type byte + the length bytes + the body.
                    if 1 + len(self._length_bytes) + length > self._max:
                        raise PacketTooLarge(f"packet of {length} bytes, the maximum is {self._max}")
                    self._body_left = length or None
            else:
                take = min(self._body_left, len(data) - index)
                index += take
                self._body_left = (self._body_left - take) or None


class MeteredWriter(WriterAdapter):
    """Counts bytes and PUBLISH packets sent. amqtt writes each packet with one `write` call."""

    def __init__(self, inner: WriterAdapter) -> None:
        self._inner = inner
        self.bytes_out = 0
        self.messages_out = 0

    def write(self, data: bytes) -> None:
        self.bytes_out += len(data)
        if data and data[0] >> 4 == PUBLISH:
            self.messages_out += 1
        self._inner.write(data)

    async def drain(self) -> None:
        await self._inner.drain()

    def get_peer_info(self) -> tuple[str, int] | None:
        return self._inner.get_peer_info()

    def get_ssl_info(self) -> ssl.SSLObject | None:
        return self._inner.get_ssl_info()

    async def close(self) -> None:
        await self._inner.close()
