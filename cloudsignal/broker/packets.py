"""Refusing MQTT packets larger than the configured maximum before reading their body.

amqtt reads a packet's fixed header byte by byte (type, then the variable-length "remaining length")
and then the body, all through one reader. This wrapper follows the same sequence: once the length is
known it raises `PacketTooLarge` if the packet would exceed the limit, so a client announcing 256 MiB
is disconnected at once instead of being buffered.
"""

from amqtt.adapters import ReaderAdapter


class PacketTooLarge(Exception):
    pass


class SizeLimitedReader(ReaderAdapter):
    def __init__(self, inner: ReaderAdapter, max_packet_size: int) -> None:
        self._inner = inner
        self._max = max_packet_size
        # Where we are in the current packet: None = at a packet start; otherwise bytes of the body left.
        self._body_left: int | None = None
        self._length_bytes: list[int] = []

    async def read(self, n: int = -1) -> bytes:
        data = await self._inner.read(n)
        self._follow(data)
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
