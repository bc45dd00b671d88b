"""Fixtures of the ACL tests: workspaces, rules, and a listener standing where the broker's control
socket would be, so a test can see the "rules changed" hint the broker would receive."""

import json
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from acl.language import RuleSpec
from clients.models import AclRule

# The broker's fixtures (a real broker on free ports, paho devices) for test_broker_acl.py, and the
# browser's for test_browser.py.
from tests.broker.conftest import broker, broker_options, control_socket, device, start_broker  # noqa: F401
from tests.browser.conftest import visit  # noqa: F401
from workspaces.models import Organization, Workspace


@pytest.fixture
def workspace(org: Organization) -> Workspace:
    return org.default_workspace


@pytest.fixture
def other_workspace(other_org: Organization) -> Workspace:
    return other_org.default_workspace


@pytest.fixture
def add_rule() -> Callable[..., AclRule]:
    def add(
        workspace: Workspace, topic: str, *, client: str = "*", action: str = "all", permission: str = "allow"
    ) -> AclRule:
        return AclRule.objects.append(workspace, RuleSpec(client, action, topic, permission))

    return add


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
def control(settings: Any) -> Iterator[ControlListener]:
    # A short path: unix socket paths are limited to about 100 bytes.
    path = Path(tempfile.mkdtemp(prefix="acl-", dir="/tmp")) / "c.sock"
    settings.BROKER_CONTROL_SOCKET = path
    listener = ControlListener(path)
    yield listener
    listener.close()
    path.unlink(missing_ok=True)
    path.parent.rmdir()
