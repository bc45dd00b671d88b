"""Revocation latency: from the admin's change (its commit) to the device seeing its connection close.

    .venv/bin/python bench/broker_revocation.py [--rounds 40]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/broker_revocation.py

Builds a throwaway test database and, for the broker in this process (a thread) and then in another
(`manage.py runbroker`), repeats: log a device in, start the clock, disable the client the way the
dashboard's Edit does (`client.update(enabled=False)`: bump the credential version, commit, hint the
broker), stop the clock when the device's socket reads EOF, enable it again for the next round.
The clock starts before the transaction, so figures include the commit. Target: p99 < 100 ms.
"""

import argparse
import socket
import threading
import time

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


def measure(broker: InProcess | OtherProcess, rounds: int) -> tuple[list[float], int]:
    (client, password), *_ = make_clients(1)
    latencies: list[float] = []
    reported_wrong = 0
    for n in range(rounds):
        client.refresh_from_db()
        client.update(enabled=True)
        sock = login(broker.port, f"device-{n}", client.full_username, password, keep=True)
        assert isinstance(sock, socket.socket), f"login refused: {sock}"
        closed = threading.Event()
        ended_at: list[float] = []

        def wait_close(
            s: socket.socket = sock, closed: threading.Event = closed, ended_at: list[float] = ended_at
        ) -> None:
            s.settimeout(10)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
            ended_at.append(time.perf_counter())
            closed.set()

        threading.Thread(target=wait_close, daemon=True).start()
        started = time.perf_counter()
        outcome = client.update(enabled=False)
        if not closed.wait(10):
            raise SystemExit("the session was not closed within 10 s")
        latencies.append(ended_at[0] - started)
        reported_wrong += outcome is None or outcome.count != 1
        sock.close()
    return latencies, reported_wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()

    rows = []
    test_db = connection.creation.create_test_db(verbosity=0)
    try:
        for kind in (InProcess, OtherProcess):
            broker = kind()
            try:
                latencies, wrong = measure(broker, args.rounds)
            finally:
                broker.stop()
            rows.append(
                [
                    kind.label,
                    database_label(),
                    str(len(latencies)),
                    ms(percentile(latencies, 50)),
                    ms(percentile(latencies, 99)),
                    ms(max(latencies)),
                    str(wrong),
                ]
            )
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)

    print("\nRevocation: commit -> device sees its connection close\n")
    print_table(["broker", "database", "rounds", "p50 (ms)", "p99 (ms)", "max (ms)", "miscounted"], rows)


if __name__ == "__main__":
    main()
