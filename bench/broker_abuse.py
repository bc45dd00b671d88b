"""The broker under abuse: password guessing before and while throttled, a valid login's wait during a
CONNECT flood from another address, and memory after a storm of refused logins.

    .venv/bin/python bench/broker_abuse.py [--guess-seconds 5] [--flood 1600] [--refused 10000]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/broker_abuse.py

A throwaway test database; a broker in this process (a thread), started fresh for each measure with the
default settings. Guessers and flooders send raw CONNECTs from 127.0.0.2 (or 127.1.x.y, one per login,
to spray from many addresses); the valid device logs in from 127.0.0.1.

- guessing: 4 threads guess one username's password for --guess-seconds, first with throttling off
  (the broker without this issue's fix), then with it on. "checked/s" counts passwords the broker
  actually verified (argon2); "answered/s" counts CONNACKs.
- flood: --flood CONNECT-then-close from 8 threads of another process at 127.0.0.2, with an unknown
  username, while the device logs in again and again from 127.0.0.1; its login times. Default
  settings, then with throttling off (the bounded queue and the hung-up check alone).
- memory: the broker process's resident memory after --refused/10 refused logins (warm-up) and after
  --refused more, from one address (distinct usernames) and from --spray distinct addresses; the
  refused logins come from another process, so the figure is the broker's alone.
"""

import argparse
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from broker_common import (
    InProcess,
    connection,
    database_label,
    make_clients,
    ms,
    percentile,
    print_table,
)


def connect_packet(client_id: str, username: str, password: str) -> bytes:
    def string(value: str) -> bytes:
        data = value.encode()
        return len(data).to_bytes(2, "big") + data

    body = string("MQTT") + bytes([4, 0xC2]) + (60).to_bytes(2, "big")
    body += string(client_id) + string(username) + string(password)
    length = bytearray()
    n = len(body)
    while True:
        byte, n = n % 128, n // 128
        length.append(byte | (0x80 if n else 0))
        if not n:
            break
    return bytes([0x10]) + bytes(length) + body


def login(port: int, username: str, password: str, source: str, client_id: str = "bench") -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=60, source_address=(source, 0)) as sock:
        sock.sendall(connect_packet(client_id, username, password))
        answer = b""
        while len(answer) < 4:
            chunk = sock.recv(4 - len(answer))
            if not chunk:
                return -1
            answer += chunk
        return answer[3]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def unthrottled(broker: InProcess) -> None:
    assert broker.thread.broker is not None
    throttle = broker.thread.broker.throttle
    throttle.free_failures = throttle.address_burst = 10**9


def guessing(username: str, seconds: float, throttled: bool) -> list[str]:
    broker = InProcess()
    try:
        if not throttled:
            unthrottled(broker)
        core = broker.thread.broker
        assert core is not None
        stop = time.monotonic() + seconds
        answered = [0]
        codes: dict[int, int] = {}
        lock = threading.Lock()

        def guess(n: int) -> None:
            tried = 0
            while time.monotonic() < stop:
                code = login(broker.port, username, f"guess-{n}-{tried}", "127.0.0.2")
                tried += 1
                with lock:
                    answered[0] += 1
                    codes[code] = codes.get(code, 0) + 1

        ran_before = core.login_queue.ran
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(guess, range(4)))
        elapsed = time.monotonic() - started
        checked = core.login_queue.ran - ran_before
        label = "throttled (default)" if throttled else "throttling off"
        summary = ", ".join(f"{codes[c]} x {c}" for c in sorted(codes))
        return [label, f"{answered[0] / elapsed:.0f}", f"{checked / elapsed:.1f}", str(checked), summary]
    finally:
        broker.stop()


def flood(username: str, password: str, count: int, throttled: bool) -> list[str]:
    broker = InProcess()
    try:
        if not throttled:
            unthrottled(broker)
        core = broker.thread.broker
        assert core is not None
        baseline = []
        for n in range(20):
            started = time.perf_counter()
            assert login(broker.port, username, password, "127.0.0.1", f"calm-{n}") == 0
            baseline.append(time.perf_counter() - started)
        # The flooder is another process, as an attacker would be: its threads must not take the
        # broker's GIL.
        began = time.perf_counter()
        attacker = subprocess.Popen([sys.executable, __file__, "--flooder", str(broker.port), str(count)])
        waits = []
        while attacker.poll() is None:
            started = time.perf_counter()
            code = login(broker.port, username, password, "127.0.0.1", f"device-{len(waits)}")
            assert code == 0, code
            waits.append(time.perf_counter() - started)
        flood_seconds = time.perf_counter() - began
        label = "default settings" if throttled else "throttling off (queue alone)"
        return [
            label,
            ms(percentile(baseline, 50)),
            str(len(waits)),
            ms(percentile(waits, 50)),
            ms(percentile(waits, 99)),
            ms(max(waits)),
            f"{flood_seconds:.1f}",
            str(core.login_queue.dropped),
        ]
    finally:
        broker.stop()


def memory(org_id: str, count: int, spray: bool) -> list[str]:
    broker = InProcess()
    try:
        core = broker.thread.broker
        assert core is not None

        def storm(start: int, n: int) -> None:
            # Another process, so the resident memory measured below is the broker's alone.
            subprocess.run(
                [sys.executable, __file__, "--storm", str(broker.port), org_id, str(start), str(n)]
                + (["--spray"] if spray else []),
                check=True,
            )

        warm = max(count // 10, 100)
        storm(0, warm)
        before = rss_mb()
        started = time.monotonic()
        storm(warm, count)
        elapsed = time.monotonic() - started
        after = rss_mb()
        label = f"{count} from {'as many addresses' if spray else 'one address'}"
        return [
            label,
            f"{before:.1f}",
            f"{after:.1f}",
            f"{after - before:+.1f}",
            str(len(core.throttle)),
            str(core.login_queue.ran),
            f"{elapsed:.0f}",
        ]
    finally:
        broker.stop()


def flooder(port: int, count: int) -> None:
    """`count` CONNECT-then-close from 127.0.0.2, from 8 threads (run in a process of its own)."""
    packet = connect_packet("flood", "nobody@00000000-0000-0000-0000-000000000000", "guess")

    def attack() -> None:
        for _ in range(count // 8):
            try:
                with socket.create_connection(
                    ("127.0.0.1", port), timeout=30, source_address=("127.0.0.2", 0)
                ) as sock:
                    sock.sendall(packet)
            except OSError:
                pass

    attackers = [threading.Thread(target=attack) for _ in range(8)]
    for a in attackers:
        a.start()
    for a in attackers:
        a.join()


def storm(port: int, org_id: str, start: int, count: int, spray: bool) -> None:
    """`count` refused logins with distinct usernames, from 127.0.0.2 or (spray) one address each,
    from 8 threads (run in a process of its own)."""

    def source(n: int) -> str:
        return f"127.1.{n // 250}.{n % 250 + 1}" if spray else "127.0.0.2"

    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda i: login(port, f"guess-{i}@{org_id}", "pw", source(i)), range(start, start + count)
            )
        )


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--flooder":
        flooder(int(sys.argv[2]), int(sys.argv[3]))
        return
    if len(sys.argv) >= 6 and sys.argv[1] == "--storm":
        storm(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), "--spray" in sys.argv)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guess-seconds", type=float, default=5.0)
    parser.add_argument("--flood", type=int, default=1600)
    parser.add_argument("--refused", type=int, default=10_000)
    parser.add_argument("--spray", type=int, default=2_000, help="refused logins from distinct addresses")
    args = parser.parse_args()

    test_db = connection.creation.create_test_db(verbosity=0)
    try:
        [(client, password)] = make_clients(1)
        username = client.full_username
        guesses = [guessing(username, args.guess_seconds, throttled) for throttled in (False, True)]
        floods = [flood(username, password, args.flood, throttled) for throttled in (True, False)]
        memories = [
            memory(str(client.organization_id), args.refused, spray=False),
            memory(str(client.organization_id), args.spray, spray=True),
        ]
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)

    print(f"\nBroker under abuse: {database_label()}\n")
    print(f"Guessing one username's password from 127.0.0.2, 4 threads, {args.guess_seconds:.0f} s\n")
    print_table(["broker", "answered/s", "checked/s", "checked", "CONNACK codes"], guesses)
    print(
        f"\nA valid login from 127.0.0.1 during {args.flood} CONNECT-then-close from 127.0.0.2 (8 threads)\n"
    )
    print_table(
        ["broker", "calm p50 (ms)", "logins", "p50 (ms)", "p99 (ms)", "max (ms)", "flood (s)", "dropped"],
        floods,
    )
    print("\nResident memory of the broker process around a refused-login storm (after a 10% warm-up)\n")
    print_table(
        [
            "refused logins",
            "before (MB)",
            "after (MB)",
            "growth (MB)",
            "throttle records",
            "argon2 runs",
            "s",
        ],
        memories,
    )


if __name__ == "__main__":
    main()
