"""The RabbitMQ engine on a two-node cluster of our own: logins per second through RabbitMQ (cold:
every password verified with argon2; warm: verified before, so the auth endpoint skips argon2) and
revocation latency across the cluster.

    .venv/bin/python bench/rabbitmq_cluster.py [--clients 40] [--rounds 40]

Starts the cluster (cloudsignal/rabbitmq/cluster.py) and the dashboard in `rabbitmq` mode
(`manage.py serve`) on a throwaway SQLite data dir. Revocation: a device logged in on each node as
the same credential, the clock started before `client.disable()` (commit, then one DELETE on the
management API) and stopped when the later of the two sockets reads EOF.
"""

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloudsignal.rabbitmq.cluster import Cluster, free_port, mqtt_addresses  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))

PASSWORD = "bench-password-correct-9"


def configure(cluster: Cluster, port: int, secret: str) -> dict[str, str]:
    """The environment of this process and of the dashboard: the same data dir and cluster."""
    env = {
        "DJANGO_SETTINGS_MODULE": "cloudsignal.settings",
        "CLOUDSIGNAL_DATA_DIR": tempfile.mkdtemp(prefix="cloudsignal-bench-"),
        "LOG_LEVEL": "WARNING",
        "CLOUDSIGNAL_BROKER": "rabbitmq",
        "CLOUDSIGNAL_RABBITMQ_MANAGEMENT_URLS": ",".join(cluster.management_urls),
        "CLOUDSIGNAL_RABBITMQ_USER": cluster.admin_user,
        "CLOUDSIGNAL_RABBITMQ_PASSWORD": cluster.admin_password,
        "CLOUDSIGNAL_RABBITMQ_AUTH_SECRET": secret,
        "CLOUDSIGNAL_HTTP_HOST": "127.0.0.1",
        "CLOUDSIGNAL_HTTP_PORT": str(port),
    }
    os.environ.update(env)
    os.environ.pop("DATABASE_URL", None)  # a throwaway SQLite file, never a real database
    return {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}


def logins_per_second(ports: list[int], usernames: list[str]) -> float:
    from broker_common import login

    """Every credential logs in once, alternating nodes, four at a time."""
    started = time.perf_counter()
    failures: list[int] = []

    def worker(share: list[tuple[int, str]]) -> None:
        for n, username in share:
            code = login(ports[n % len(ports)], f"bench-{n}", username, PASSWORD)
            if code != 0:
                failures.append(code)

    indexed = list(enumerate(usernames))
    threads = [threading.Thread(target=worker, args=(indexed[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"{len(failures)} logins refused: {failures[:5]}")
    return len(usernames) / (time.perf_counter() - started)


def revocation_latencies(ports: list[int], rounds: int) -> list[float]:
    from broker_common import login

    from clients.models import MqttClient

    client = MqttClient.objects.get(username="bench-00000")
    latencies = []
    for n in range(rounds):
        client.refresh_from_db()
        client.enable()
        socks = [
            login(port, f"rev-{n}-{i}", client.device_username, PASSWORD, keep=True)
            for i, port in enumerate(ports)
        ]
        assert all(isinstance(s, socket.socket) for s in socks), f"login refused: {socks}"
        ended: list[float] = []

        def wait_close(s: socket.socket, ended: list[float] = ended) -> None:
            s.settimeout(10)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
            ended.append(time.perf_counter())

        watchers = [
            threading.Thread(target=wait_close, args=(s,)) for s in socks if isinstance(s, socket.socket)
        ]
        for w in watchers:
            w.start()
        started = time.perf_counter()
        outcome = client.disable()
        for w in watchers:
            w.join(10)
        if len(ended) != len(socks):
            raise SystemExit("a session was not closed within 10 s")
        if outcome.count != len(socks):
            raise SystemExit(f"the admin was told {outcome.count} sessions ended, not {len(socks)}")
        latencies.append(max(ended) - started)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()

    port, secret = free_port(), secrets.token_urlsafe(16)
    cluster = Cluster(auth_url=f"http://127.0.0.1:{port}/rabbitmq-auth/{secret}/")
    env = configure(cluster, port, secret)
    # Django starts here, on the environment configure() set.
    from broker_common import percentile, print_table
    from django.core.management import call_command

    from clients.provisioning import create_client
    from cloudsignal.rabbitmq import vhosts
    from workspaces.onboarding import create_organization, find_or_create_user

    call_command("migrate", verbosity=0)
    org = create_organization(owner=find_or_create_user("bench@example.com"), name="Bench")
    clients = [
        create_client(organization=org, username=f"bench-{n:05d}", password=PASSWORD)[0]
        for n in range(args.clients)
    ]
    dashboard = subprocess.Popen([sys.executable, "manage.py", "serve"], cwd=ROOT, env=env)
    try:
        started = time.monotonic()
        cluster.start()
        took = time.monotonic() - started
        print(f"cluster of {len(cluster.nodes)} up in {took:.0f} s: {mqtt_addresses(cluster.nodes)}")
        vhosts.sync()
        ports = [n.mqtt_port for n in cluster.nodes]
        usernames = [c.device_username for c in clients]
        cold = logins_per_second(ports, usernames)
        warm = logins_per_second(ports, usernames)
        latencies = revocation_latencies(ports, args.rounds)
    finally:
        dashboard.send_signal(signal.SIGTERM)
        dashboard.wait(10)
        cluster.stop()
    ms = [f"{percentile(latencies, p) * 1000:.1f}" for p in (50, 99)]
    print()
    print_table(
        ["measure", "value"],
        [
            [f"logins/s, cold ({args.clients} credentials, 4 at a time, both nodes)", f"{cold:.0f}"],
            ["logins/s, warm (verified before: no argon2)", f"{warm:.0f}"],
            [f"revocation across 2 nodes, p50 ms ({args.rounds} rounds)", ms[0]],
            ["revocation across 2 nodes, p99 ms", ms[1]],
        ],
    )


if __name__ == "__main__":
    main()
