"""The `control` fixture: a listener standing where the broker's control socket would be, so a test
sees the hints the dashboard sends ("rules changed", "disconnect this session"). A pytest plugin,
registered once in tests/conftest.py."""

import json
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper


class ControlListener:
    """Accepts the hints clients.hints sends and records them."""

    def __init__(self, path: Path) -> None:
        self.messages: list[dict[str, object]] = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                self.messages.append(json.loads(data))
                conn.sendall(b'{"ended": 0}\n')

    def rules_changed(self) -> list[object]:
        return [m["workspaces"] for m in self.messages if m.get("op") == "rules-changed"]

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def control(settings: SettingsWrapper) -> Iterator[ControlListener]:
    # A short path: unix socket paths are limited to about 100 bytes.
    path = Path(tempfile.mkdtemp(prefix="hints-", dir="/tmp")) / "c.sock"
    settings.BROKER_CONTROL_SOCKET = path
    listener = ControlListener(path)
    yield listener
    listener.close()
    path.unlink(missing_ok=True)
    path.parent.rmdir()
