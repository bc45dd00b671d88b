"""`manage.py runbroker` as a real process, for tests of the production shape: two processes, restarts,
kills. Runs on whichever database the suite runs on (SQLite file or PostgreSQL), shared through
DATABASE_URL."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from django.conf import settings
from django.db import connection


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    host = f"{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{host}/{db['NAME']}"


class BrokerProcess:
    """`manage.py runbroker` in a process of its own, on free ports, sharing the test database."""

    def __init__(self, data_dir: Path, **environment: str) -> None:
        self.socket = data_dir / "broker.sock"
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CLOUDSIGNAL_DATA_DIR": str(data_dir),
            "CLOUDSIGNAL_BROKER_SOCKET": str(self.socket),
            "CLOUDSIGNAL_MQTT_BIND": "127.0.0.1",
            "CLOUDSIGNAL_MQTT_PORT": "0",
            "CLOUDSIGNAL_MQTTS_PORT": "0",
            "CLOUDSIGNAL_WS_PORT": "0",
            "CLOUDSIGNAL_BROKER_RECONCILE_SECONDS": "1",
            **environment,
        }
        self.process = subprocess.Popen(
            [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "runbroker"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self.ports: dict[str, int] = {}
        ready = threading.Event()

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line)
                if line.startswith("broker ready "):
                    self.ports = {k: int(v) for k, v in (pair.split("=") for pair in line.split()[2:])}
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(60) or not self.ports:
            self.process.kill()
            raise AssertionError("runbroker did not start:\n" + "".join(self.output))

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(30)

    def log(self) -> str:
        return "".join(self.output)
