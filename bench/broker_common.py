"""Shared set-up for the broker benchmarks: Django on a throwaway test database, raw MQTT logins,
and the broker either in this process (a thread) or as `manage.py runbroker` in another."""

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudsignal.settings")
os.environ.setdefault("CLOUDSIGNAL_DATA_DIR", tempfile.mkdtemp(prefix="cloudsignal-bench-"))
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from clients.models import MqttClient  # noqa: E402
from clients.provisioning import create_client  # noqa: E402
from cloudsignal.broker.config import BrokerOptions, loopback_listeners  # noqa: E402
from cloudsignal.broker.runner import BrokerThread  # noqa: E402
from workspaces.onboarding import create_organization, find_or_create_user  # noqa: E402


def database_label() -> str:
    return "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"


def make_clients(count: int) -> list[tuple[MqttClient, str]]:
    owner = find_or_create_user("bench@example.com", "bench-password-123")
    org = create_organization(owner=owner, name="Bench")  # type: ignore[arg-type]
    return [create_client(organization=org, username=f"bench-{n:05d}") for n in range(count)]


def connect_packet(client_id: str, username: str, password: str, keepalive: int = 60) -> bytes:
    def string(value: str) -> bytes:
        data = value.encode()
        return len(data).to_bytes(2, "big") + data

    body = string("MQTT") + bytes([4, 0xC2]) + keepalive.to_bytes(2, "big")
    body += string(client_id) + string(username) + string(password)
    length = bytearray()
    n = len(body)
    while True:
        byte, n = n % 128, n // 128
        length.append(byte | (0x80 if n else 0))
        if not n:
            break
    return bytes([0x10]) + bytes(length) + body


def login(
    port: int, client_id: str, username: str, password: str, *, keep: bool = False
) -> socket.socket | int:
    """CONNECT and read the CONNACK; return its code, or the open socket with `keep`."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(connect_packet(client_id, username, password))
    connack = b""
    while len(connack) < 4:
        chunk = sock.recv(4 - len(connack))
        if not chunk:
            break
        connack += chunk
    code = connack[3] if len(connack) == 4 else -1
    if keep and code == 0:
        return sock
    sock.close()
    return code


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


class InProcess:
    """The broker in a thread of this process."""

    label = "one process"

    def __init__(self) -> None:
        sock_dir = Path(tempfile.mkdtemp(prefix="cs-"))
        settings.BROKER_CONTROL_SOCKET = sock_dir / "broker.sock"
        self.thread = BrokerThread(
            BrokerOptions(listeners=loopback_listeners(), control_socket=settings.BROKER_CONTROL_SOCKET)
        ).start()
        self.port = self.thread.ports["mqtt"]
        self._dir = sock_dir

    def stop(self) -> None:
        self.thread.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


class OtherProcess:
    """`manage.py runbroker` in a child process sharing the test database."""

    label = "two processes"

    def __init__(self, base_dir: Path | None = None) -> None:
        # `base_dir`: another checkout's runbroker (a baseline), on this same database.
        manage = (base_dir or Path(settings.BASE_DIR)) / "manage.py"
        self._dir = Path(tempfile.mkdtemp(prefix="cs-"))
        settings.BROKER_CONTROL_SOCKET = self._dir / "broker.sock"
        db = connection.settings_dict
        if connection.vendor == "sqlite":
            url = f"sqlite:///{Path(db['NAME']).resolve()}"
        else:
            host = f"{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}"
            url = f"postgres://{db['USER']}:{db['PASSWORD']}@{host}/{db['NAME']}"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "CLOUDSIGNAL_DATA_DIR": str(self._dir),
            "CLOUDSIGNAL_BROKER_SOCKET": str(settings.BROKER_CONTROL_SOCKET),
            "CLOUDSIGNAL_MQTT_BIND": "127.0.0.1",
            "CLOUDSIGNAL_MQTT_PORT": "0",
            "CLOUDSIGNAL_MQTTS_PORT": "0",
            "CLOUDSIGNAL_WS_PORT": "0",
        }
        self.process = subprocess.Popen(
            [sys.executable, str(manage), "runbroker"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        ready = threading.Event()
        ports: dict[str, int] = {}

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                if line.startswith("broker ready "):
                    ports.update({k: int(v) for k, v in (p.split("=") for p in line.split()[2:])})
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(60) or not ports:
            self.process.kill()
            raise SystemExit("runbroker did not start")
        self.port = ports["mqtt"]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)
        shutil.rmtree(self._dir, ignore_errors=True)


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


__all__ = [
    "InProcess",
    "OtherProcess",
    "connection",
    "database_label",
    "login",
    "make_clients",
    "ms",
    "percentile",
    "print_table",
    "statistics",
]
