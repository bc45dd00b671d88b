"""Logins per second, cold (argon2 verification) and warm (verified-credential cache), and the
round-trip latency of a session already connected while a login burst runs.

    .venv/bin/python bench/broker_logins.py [--clients 60] [--concurrency 16]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/broker_logins.py

Builds a throwaway test database and --clients credentials, then measures a broker in this process
(a thread) and one in another (`manage.py runbroker`), each started fresh. Each login
is a raw CONNECT, CONNACK, close from --concurrency threads. The "existing session" publishes QoS 0
to a topic it subscribes to, one message at a time, and records each round trip.
"""

import argparse
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from broker_common import (
    InProcess,
    OtherProcess,
    connection,
    database_label,
    login,
    make_clients,
    ms,
    percentile,
    print_table,
)


def _packet(first: int, body: bytes) -> bytes:
    length = bytearray()
    n = len(body)
    while True:
        byte, n = n % 128, n // 128
        length.append(byte | (0x80 if n else 0))
        if not n:
            return bytes([first]) + bytes(length) + body


def _read_packet(sock: socket.socket) -> bytes:
    header = sock.recv(1)
    multiplier, length = 1, 0
    while True:
        byte = sock.recv(1)[0]
        length += (byte & 0x7F) * multiplier
        if not byte & 0x80:
            break
        multiplier *= 128
    body = b""
    while len(body) < length:
        body += sock.recv(length - len(body))
    return header + body


class Pinger(threading.Thread):
    """A connected session measuring QoS 0 round trips through the broker, continuously."""

    def __init__(self, port: int, username: str, password: str) -> None:
        super().__init__(daemon=True)
        sock = login(port, f"pinger-{time.monotonic_ns()}", username, password, keep=True)
        assert isinstance(sock, socket.socket)
        self.sock = sock
        topic = b"\x00\x04ping"
        self.sock.sendall(_packet(0x82, b"\x00\x01" + topic + b"\x00"))
        _read_packet(self.sock)  # SUBACK
        self.publish = _packet(0x30, topic + b"x" * 16)
        self.samples: list[tuple[float, float]] = []
        self.running = True

    def run(self) -> None:
        while self.running:
            started = time.perf_counter()
            try:
                self.sock.sendall(self.publish)
                _read_packet(self.sock)
            except (OSError, IndexError):
                return  # the broker is stopping
            self.samples.append((started, time.perf_counter() - started))

    def between(self, start: float, end: float) -> list[float]:
        return [rtt for at, rtt in self.samples if start <= at <= end]


def burst(port: int, credentials: list[tuple[str, str]], concurrency: int) -> tuple[float, int]:
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        codes = list(
            pool.map(lambda c: login(port, f"burst-{c[0]}", c[0], c[1]), credentials)  # type: ignore[arg-type]
        )
    elapsed = time.perf_counter() - started
    return len(credentials) / elapsed, sum(1 for code in codes if code != 0)


def run_phases(
    broker: InProcess | OtherProcess,
    pinger_credential: tuple[str, str],
    credentials: list[tuple[str, str]],
    concurrency: int,
) -> list[list[str]]:
    pinger = Pinger(broker.port, *pinger_credential)
    pinger.start()
    time.sleep(1.0)
    idle = pinger.between(0, time.perf_counter())
    rows = [
        [broker.label, "idle", "-", "-", ms(percentile(idle, 50)), ms(percentile(idle, 99)), str(len(idle))]
    ]
    for phase in ("cold burst (argon2)", "warm burst (cache)"):
        start = time.perf_counter()
        rate, failed = burst(broker.port, credentials, concurrency)
        during = pinger.between(start, time.perf_counter())
        rows.append(
            [
                broker.label,
                phase,
                f"{rate:.1f}",
                str(failed),
                ms(percentile(during, 50)),
                ms(percentile(during, 99)),
                str(len(during)),
            ]
        )
    pinger.running = False
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    rows: list[list[str]] = []
    test_db = connection.creation.create_test_db(verbosity=0)
    try:
        made = make_clients(args.clients + 1)
        pinger_client, pinger_password = made.pop()
        credentials = [(c.full_username, p) for c, p in made]
        # A fresh broker each time, so the first burst finds the verified-credential cache empty.
        for kind in (InProcess, OtherProcess):
            broker = kind()
            try:
                rows += run_phases(
                    broker, (pinger_client.full_username, pinger_password), credentials, args.concurrency
                )
            finally:
                broker.stop()
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)

    print(f"\nBroker logins: {database_label()}, {args.clients} clients, {args.concurrency} concurrent\n")
    print_table(
        ["broker", "phase", "logins/s", "refused", "existing session RTT p50 (ms)", "p99 (ms)", "samples"],
        rows,
    )


if __name__ == "__main__":
    main()
