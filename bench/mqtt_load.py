"""The load generator of `make bench`: raw MQTT 3.1.1 over asyncio, one process, loopback only.

    .venv/bin/python bench/mqtt_load.py SCENARIO_JSON

The same code loads every broker (ours, stock amqtt, Mosquitto), so differences are the brokers'.
Each scenario is bounded in count and time and prints one JSON line with its figures; `idle` and
`slow` also print progress lines (`{"event": ...}`) and wait for a line on stdin, so the driver can
read the broker's memory at the right moments. No Django here: this process only speaks MQTT.
"""

import asyncio
import contextlib
import json
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

HOST = "127.0.0.1"

Credential = tuple[str, str]  # (username, password)


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return len(data).to_bytes(2, "big") + data


def packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _length(len(body)) + body


def connect_packet(client_id: str, username: str, password: str, keepalive: int, clean: bool = True) -> bytes:
    flags = 0xC0 | (0x02 if clean else 0)
    body = _string("MQTT") + bytes([4, flags]) + keepalive.to_bytes(2, "big")
    return packet(0x10, body + _string(client_id) + _string(username) + _string(password))


def publish_packet(topic: str, payload: bytes, qos: int, packet_id: int = 0) -> bytes:
    body = _string(topic) + (packet_id.to_bytes(2, "big") if qos else b"") + payload
    return packet(0x30 | (qos << 1), body)


class Client(asyncio.Protocol):
    """One MQTT connection. Parses what arrives in `data_received` (no task per packet), acknowledges
    QoS 1 PUBLISH at once, and calls `on_message(topic, payload)`."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.connack: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.acks: dict[int, asyncio.Future[bytes]] = {}
        self.on_message: Callable[[bytes, bytes], None] | None = None
        self.on_puback: Callable[[int], None] | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(True)
        if not self.connack.done():
            self.connack.set_result(-1)

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        pos, end = 0, len(buf)
        while end - pos >= 2:
            length, multiplier, i, complete = 0, 1, pos + 1, False
            while i < end and i < pos + 5:
                byte = buf[i]
                i += 1
                length += (byte & 0x7F) * multiplier
                multiplier *= 128
                if not byte & 0x80:
                    complete = True
                    break
            if not complete or end - i < length:
                break
            first = buf[pos]
            body = bytes(buf[i : i + length])
            pos = i + length
            self._packet(first, body)
        if pos:
            del buf[:pos]

    def _packet(self, first: int, body: bytes) -> None:
        kind = first >> 4
        if kind == 3:  # PUBLISH
            qos = (first >> 1) & 3
            topic_len = int.from_bytes(body[:2], "big")
            topic = body[2 : 2 + topic_len]
            offset = 2 + topic_len
            if qos:
                packet_id = body[offset : offset + 2]
                offset += 2
                assert self.transport is not None
                self.transport.write(b"\x40\x02" + packet_id)  # PUBACK (QoS 1)
            self.received += 1
            if self.on_message is not None:
                self.on_message(topic, body[offset:])
        elif kind == 2:  # CONNACK
            if not self.connack.done():
                self.connack.set_result(body[1])
        elif kind == 4:  # PUBACK
            packet_id = int.from_bytes(body[:2], "big")
            if self.on_puback is not None:
                self.on_puback(packet_id)
        elif kind in (9, 11):  # SUBACK, UNSUBACK
            packet_id = int.from_bytes(body[:2], "big")
            waiter = self.acks.pop(packet_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(body[2:])
        # PINGRESP and anything else: ignored.

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def subscribe(self, topic_filter: str, qos: int, packet_id: int = 1) -> bytes:
        waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.acks[packet_id] = waiter
        self.write(packet(0x82, packet_id.to_bytes(2, "big") + _string(topic_filter) + bytes([qos])))
        return await asyncio.wait_for(waiter, 30)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"\xe0\x00")  # DISCONNECT
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def connect(
    port: int, client_id: str, credential: Credential, keepalive: int = 600, timeout: float = 60
) -> tuple[Client | None, int]:
    """A connected client and CONNACK code 0, or (None, code) when refused (-1: no CONNACK)."""
    loop = asyncio.get_running_loop()
    try:
        _, client = await asyncio.wait_for(loop.create_connection(Client, HOST, port), timeout)
    except (OSError, TimeoutError):
        return None, -2
    client.write(connect_packet(client_id, *credential, keepalive))
    try:
        code = await asyncio.wait_for(client.connack, timeout)
    except TimeoutError:
        code = -1
    if code != 0:
        client.abort()
        return None, code
    return client, 0


async def bounded(concurrency: int, jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run coroutine factories at most `concurrency` at a time; results in order."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Any]) -> Any:
        async with semaphore:
            return await job()

    return await asyncio.gather(*(one(j) for j in jobs))


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# Scenarios ---------------------------------------------------------------------------------------


async def logins(spec: dict[str, Any]) -> dict[str, Any]:
    """CONNECT, CONNACK, DISCONNECT for each credential: once unmeasured (so each was verified
    before), then `rounds` times measured. Logins per second of each measured pass."""
    port, creds = spec["port"], [tuple(c) for c in spec["credentials"]]
    concurrency = spec["concurrency"]

    async def one(n: int, cred: Credential) -> int:
        client, code = await connect(port, f"warm-{n}", cred)
        if client is not None:
            client.close()
        return code

    await bounded(concurrency, [lambda n=n, c=c: one(n, c) for n, c in enumerate(creds)])
    rates, refused = [], 0
    for _ in range(spec["rounds"]):
        started = time.perf_counter()
        codes = await bounded(concurrency, [lambda n=n, c=c: one(n, c) for n, c in enumerate(creds)])
        rates.append(len(creds) / (time.perf_counter() - started))
        refused += sum(1 for code in codes if code != 0)
    return {"rates": rates, "refused": refused}


class Pinger:
    """A connected client measuring QoS 0 round trips through the broker, one message at a time."""

    def __init__(self, client: Client, topic: str) -> None:
        self.client = client
        self.topic = topic
        self.samples: list[float] = []
        self._arrived = asyncio.Event()
        client.on_message = lambda topic, payload: self._arrived.set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.client.subscribe(self.topic, 0)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        message = publish_packet(self.topic, b"p" * 16, 0)
        while True:
            self._arrived.clear()
            started = time.perf_counter()
            self.client.write(message)
            try:
                await asyncio.wait_for(self._arrived.wait(), 10)
            except TimeoutError:
                self.samples.append(10.0)
                continue
            self.samples.append(time.perf_counter() - started)
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def cold(spec: dict[str, Any]) -> dict[str, Any]:
    """Known clients reconnecting at once to a freshly started broker, while a client already
    connected measures its round trips."""
    port, creds = spec["port"], [tuple(c) for c in spec["credentials"]]
    pinger_client, code = await connect(port, "pinger", tuple(spec["pinger"]))
    if pinger_client is None:
        raise SystemExit(f"pinger refused: {code}")
    pinger = Pinger(pinger_client, "ping/rtt")
    await pinger.start()
    await asyncio.sleep(0.5)
    before = len(pinger.samples)
    started = time.perf_counter()
    # Each waits its turn behind the argon2 verifications queued before it: no early give-up.
    results = await bounded(
        spec["concurrency"],
        [lambda n=n, c=c: connect(port, f"fleet-{n}", c, timeout=600) for n, c in enumerate(creds)],
    )
    elapsed = time.perf_counter() - started
    during = pinger.samples[before:]
    await pinger.stop()
    for client, _code in results:
        if client is not None:
            client.close()
    pinger_client.close()
    return {
        "logins_per_s": len(creds) / elapsed,
        "seconds": elapsed,
        "refused": sum(1 for _c, code in results if code != 0),
        "rtt_p50_ms": percentile(during, 50) * 1000,
        "rtt_p99_ms": percentile(during, 99) * 1000,
        "rtt_samples": len(during),
    }


async def _pair(spec: dict[str, Any], tag: str, sub_qos: int) -> tuple[Client, Client]:
    port = spec["port"]
    sub, code = await connect(port, f"sub-{tag}", tuple(spec["subscriber"]))
    if sub is None:
        raise SystemExit(f"subscriber refused: {code}")
    granted = await sub.subscribe(spec["filter"], sub_qos)
    if granted[:1] == b"\x80":
        raise SystemExit("subscription refused")
    pub, code = await connect(port, f"pub-{tag}", tuple(spec["publisher"]))
    if pub is None:
        raise SystemExit(f"publisher refused: {code}")
    return sub, pub


async def _one_to_one(pub: Client, sub: Client, topic: str, n: int, qos: int, window: int) -> dict[str, Any]:
    """Publish n messages (QoS 1: at most `window` unacknowledged) and count what arrives."""
    first = last = 0.0
    received = 0
    done = asyncio.Event()

    def on_message(_topic: bytes, _payload: bytes) -> None:
        nonlocal first, last, received
        last = time.perf_counter()
        if received == 0:
            first = last
        received += 1
        if received >= n:
            done.set()

    sub.on_message = on_message
    payload = b"x" * 64
    started = time.perf_counter()
    if qos == 0:
        message = publish_packet(topic, payload, 0)
        for i in range(n):
            pub.write(message)
            if i % 500 == 499:
                await asyncio.sleep(0)  # let the transport flush and the subscriber read
    else:
        free = asyncio.Semaphore(window)
        pub.on_puback = lambda _pid: free.release()
        for i in range(n):
            await free.acquire()
            pub.write(publish_packet(topic, payload, 1, i % 65535 + 1))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), max(20.0, n / 300))
    # The slowest brokers may still be delivering: wait until nothing arrives for a moment.
    while True:
        seen = received
        await asyncio.sleep(0.3)
        if received == seen:
            break
    span = last - first
    return {
        "rate": (received - 1) / span if received > 1 and span > 0 else 0.0,
        "received": received,
        "lost": n - received,
        "wall": time.perf_counter() - started,
    }


async def throughput(spec: dict[str, Any]) -> dict[str, Any]:
    """One publisher, one subscriber: `rounds` runs of `messages` at `qos`. With `idle`, the same
    again after that many idle clients each subscribed to a filter of their own."""
    qos = spec["qos"]
    sub, pub = await _pair(spec, f"tp{qos}", qos)
    rounds = []
    for _ in range(spec["rounds"]):
        rounds.append(await _one_to_one(pub, sub, spec["topic"], spec["messages"], qos, spec["window"]))
    result: dict[str, Any] = {"rounds": rounds}
    idle: list[Client] = []
    if spec.get("idle"):
        port = spec["port"]
        idle_creds = [tuple(c) for c in spec["idle_credentials"]]

        async def idle_one(n: int) -> Client | None:
            client, _code = await connect(port, f"idle-{n}", idle_creds[n % len(idle_creds)])
            if client is not None:
                await client.subscribe(f"idle/{n}/+/data", 0)
            return client

        made = await bounded(50, [lambda n=n: idle_one(n) for n in range(spec["idle"])])
        idle = [c for c in made if c is not None]
        result["idle_connected"] = len(idle)
        result["idle_rounds"] = [
            await _one_to_one(pub, sub, spec["topic"], spec["messages"], qos, spec["window"])
            for _ in range(spec["rounds"])
        ]
    for client in (*idle, pub, sub):
        client.close()
    return result


async def fanout(spec: dict[str, Any]) -> dict[str, Any]:
    """One publisher, `subscribers` subscribers of one filter: deliveries per second."""
    port, n_subs, n = spec["port"], spec["subscribers"], spec["messages"]
    cred = tuple(spec["subscriber"])
    subs: list[Client] = []
    for i in range(n_subs):
        client, code = await connect(port, f"fan-{i}", cred)
        if client is None:
            raise SystemExit(f"fan-out subscriber refused: {code}")
        await client.subscribe(spec["filter"], 0)
        subs.append(client)
    pub, code = await connect(port, "fan-pub", tuple(spec["publisher"]))
    if pub is None:
        raise SystemExit(f"publisher refused: {code}")
    rounds = []
    expected = n * n_subs
    for _ in range(spec["rounds"]):
        for client in subs:
            client.received = 0
        message = publish_packet(spec["topic"], b"f" * 64, 0)
        started = time.perf_counter()
        for i in range(n):
            pub.write(message)
            if i % 50 == 49:
                await asyncio.sleep(0)
        deadline = time.perf_counter() + max(30.0, expected / 2000)
        last_total, last_change = -1, time.perf_counter()
        while time.perf_counter() < deadline:
            total = sum(c.received for c in subs)
            if total >= expected:
                break
            if total != last_total:
                last_total, last_change = total, time.perf_counter()
            elif time.perf_counter() - last_change > 2:
                break  # nothing more is coming
            await asyncio.sleep(0.01)
        total = sum(c.received for c in subs)
        rounds.append(
            {"rate": total / (time.perf_counter() - started), "received": total, "lost": expected - total}
        )
    for client in (*subs, pub):
        client.close()
    return {"rounds": rounds}


async def sustained(spec: dict[str, Any]) -> dict[str, Any]:
    """QoS 1 at a fixed rate for a fixed time; each message carries its send time and sequence
    number. Latency percentiles, and how many never arrived."""
    sub, pub = await _pair(spec, "sustained", 1)
    rate, seconds = spec["rate"], spec["seconds"]
    latencies: list[float] = []
    seen: set[int] = set()

    def on_message(_topic: bytes, payload: bytes) -> None:
        sent_at, seq = struct.unpack_from("!dI", payload)
        latencies.append(time.perf_counter() - sent_at)
        seen.add(seq)

    sub.on_message = on_message
    unacked: set[int] = set()
    pub.on_puback = unacked.discard
    total = int(rate * seconds)
    started = time.perf_counter()
    sent = 0
    # Sent in small batches on a schedule (every 10 ms), catching up if the loop fell behind.
    while sent < total:
        due = min(total, int((time.perf_counter() - started) * rate) + 1)
        while sent < due:
            packet_id = sent % 65535 + 1
            if packet_id in unacked:
                break  # 65,535 unacknowledged: the broker is far behind
            unacked.add(packet_id)
            payload = struct.pack("!dI", time.perf_counter(), sent) + b"s" * 52
            pub.write(publish_packet(spec["topic"], payload, 1, packet_id))
            sent += 1
        await asyncio.sleep(0.01)
    deadline = time.perf_counter() + 15
    while len(seen) < sent and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    sub.close()
    pub.close()
    return {
        "sent": sent,
        "received": len(seen),
        "lost": sent - len(seen),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies, default=float("nan")) * 1000,
        "achieved_rate": sent / (time.perf_counter() - started),
    }


def _say(event: str, **data: Any) -> None:
    print(json.dumps({"event": event, **data}), flush=True)


async def _wait_for_driver() -> None:
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def idle(spec: dict[str, Any]) -> dict[str, Any]:
    """Open `connections` idle connections, say so, hold them until the driver answers, close."""
    port = spec["port"]
    creds = [tuple(c) for c in spec["credentials"]]
    started = time.perf_counter()
    results = await bounded(
        spec["concurrency"],
        [lambda n=n: connect(port, f"conn-{n}", creds[n % len(creds)]) for n in range(spec["connections"])],
    )
    held = [c for c, _code in results if c is not None]
    _say("holding", connected=len(held), seconds=time.perf_counter() - started)
    await _wait_for_driver()
    for client in held:
        client.abort()
    return {"connected": len(held), "refused": len(results) - len(held)}


async def slow(spec: dict[str, Any]) -> dict[str, Any]:
    """A subscriber that stops reading, behind a publisher sending as fast as it can for `seconds`.
    Afterwards: was the slow subscriber disconnected, and how much did it still get?"""
    port = spec["port"]
    sub, code = await connect(port, "slow-sub", tuple(spec["subscriber"]))
    assert sub is not None, code
    await sub.subscribe(spec["filter"], spec["qos"])
    assert sub.transport is not None
    sub.transport.pause_reading()
    pub, code = await connect(port, "slow-pub", tuple(spec["publisher"]))
    assert pub is not None, code
    payload = b"m" * 1024
    message = publish_packet(spec["topic"], payload, 0)
    started = time.perf_counter()
    sent = 0
    _say("publishing")
    assert pub.transport is not None
    while time.perf_counter() - started < spec["seconds"] and not pub.closed.done():
        for _ in range(100):
            pub.write(message)
        sent += 100
        # Respect our own socket's back-pressure, so only the broker can buffer.
        while pub.transport.get_write_buffer_size() > 1 << 20 and not pub.closed.done():
            await asyncio.sleep(0.005)
        await asyncio.sleep(0)
    _say("published", sent=sent)
    await _wait_for_driver()
    # Read what the broker kept for the slow subscriber (bounded wait), to see if it was closed.
    sub.transport.resume_reading()
    try:
        await asyncio.wait_for(asyncio.shield(sub.closed), 5)
        disconnected = True
    except TimeoutError:
        disconnected = False
    pub.close()
    sub.close()
    return {"sent": sent, "slow_received": sub.received, "slow_disconnected": disconnected}


SCENARIOS = {
    "logins": logins,
    "cold": cold,
    "throughput": throughput,
    "fanout": fanout,
    "sustained": sustained,
    "idle": idle,
    "slow": slow,
}


def main() -> None:
    spec = json.loads(sys.argv[1])
    try:
        import uvloop  # the load generator is the same for every broker, whichever loop it runs

        runner: Callable[..., Any] = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(asyncio.wait_for(SCENARIOS[spec["scenario"]](spec), spec.get("timeout", 600)))
    print(json.dumps({"event": "result", **result}), flush=True)


if __name__ == "__main__":
    main()
