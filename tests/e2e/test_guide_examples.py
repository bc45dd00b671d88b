"""The guide's connection examples, copied from the dashboard's First connection page and run as
written (password filled in) against `manage.py serve`, the server `make run` starts.

Everything is real and separate: the server in its own process on free ports, clients made by the
command line in another, examples run by the system's python and mosquitto_pub, and a paho-mqtt
watcher in the same workspace that must receive what each example publishes.
"""

import html
import http.cookiejar
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from django.conf import settings
from django.test import override_settings

from tests.support.net import free_port, port_open
from tests.support.waiting import wait_for
from workspaces.onboarding import setup_token

ROOT = Path(settings.BASE_DIR)


@dataclass
class Install:
    env: dict[str, str]
    data_dir: Path
    http: int
    mqtt: int
    mqtts: int
    ws: int
    opener: urllib.request.OpenerDirector

    def manage(self, *args: str) -> dict:
        result = subprocess.run(
            [sys.executable, "manage.py", *args, "--json"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def page(self, path: str) -> str:
        with self.opener.open(f"http://127.0.0.1:{self.http}{path}", timeout=10) as response:
            return response.read().decode()


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    data_dir = tmp_path_factory.mktemp("install")
    ports = {"http": free_port(), "mqtt": free_port(), "mqtts": free_port(), "ws": free_port()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSIGNAL_") and k != "DATABASE_URL"}
    env |= {
        "CLOUDSIGNAL_DATA_DIR": str(data_dir),
        "CLOUDSIGNAL_PUBLIC_HOST": "localhost",
        "CLOUDSIGNAL_MQTT_BIND": "127.0.0.1",
        **{f"CLOUDSIGNAL_{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve"], cwd=ROOT, env=env, start_new_session=True
    )
    try:
        wait_for(lambda: server.poll() is not None or all(port_open(p) for p in ports.values()), timeout=60)
        assert server.poll() is None, "serve exited during start-up"
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        install = Install(env=env, data_dir=data_dir, opener=opener, **ports)
        # The first-run setup, as a person does it in the browser (which also signs them in), with
        # the token serve prints: derived from this install's secret key.
        with override_settings(SECRET_KEY=(data_dir / "secret_key").read_text().strip()):
            setup_path = f"/setup/?token={setup_token()}"
        install.page(setup_path)
        token = next(c.value for c in jar if c.name == "csrftoken")
        form = {
            "csrfmiddlewaretoken": token,
            "organization_name": "Acme",
            "email": "owner@acme.example",
            "password": "a-long-owner-password",
        }
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports['http']}{setup_path}",
            data=urllib.parse.urlencode(form).encode(),
            headers={"Referer": f"http://127.0.0.1:{ports['http']}/setup/"},
        )
        opener.open(request, timeout=10).read()
        yield install
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@dataclass
class Guide:
    organization_id: str
    password: str
    examples: list[str]
    watcher: "Watcher"


class Watcher:
    """A paho-mqtt client in the same workspace, subscribed to what the examples publish."""

    def __init__(self, install: Install, full_username: str, password: str) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="guide-watcher")
        self.client.username_pw_set(full_username, password)
        self.client.on_message = lambda _c, _u, message: self.messages.put(
            (message.topic, bytes(message.payload))
        )
        subscribed = queue.Queue[object]()
        self.client.on_subscribe = lambda *args: subscribed.put(args)
        assert self.client.connect("127.0.0.1", install.mqtt) == 0
        self.client.loop_start()
        self.client.subscribe("sensors/temp", qos=1)
        subscribed.get(timeout=15)

    def expect(self, payload: bytes, timeout: float = 20) -> None:
        while True:
            topic, got = self.messages.get(timeout=timeout)
            if (topic, got) == ("sensors/temp", payload):
                return

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def guide(install: Install) -> Iterator[Guide]:
    page = install.page("/help/first-connection/")
    organization_id = re.search(r"Organization ID</dt>\s*<dd><code>([0-9a-f-]{36})</code>", page).group(1)  # type: ignore[union-attr]
    made = install.manage("clients", "create", "--org", organization_id, "agent-research-01")
    watcher_made = install.manage("clients", "create", "--org", organization_id, "guide-watcher")
    examples = [html.unescape(block) for block in re.findall(r"<pre><code>(.*?)</code></pre>", page, re.S)]
    watcher = Watcher(install, watcher_made["full_username"], watcher_made["password"])
    try:
        yield Guide(organization_id, made["password"], examples, watcher)
    finally:
        watcher.close()


def example(guide: Guide, starts_with: str, *, tls: bool = False) -> str:
    found = [e for e in guide.examples if e.startswith(starts_with) and ("--cafile" in e) == tls]
    assert found, f"no example starting with {starts_with!r} on the First connection page"
    return found[0].replace("YOUR_PASSWORD", guide.password)


def test_page_shows_the_organization_id_in_the_full_username(guide: Guide) -> None:
    assert any(f"agent-research-01@{guide.organization_id}" in e for e in guide.examples)


def test_paho_example_connects_and_publishes(guide: Guide, tmp_path: Path) -> None:
    code = example(guide, "import paho")
    run_until_received(guide, [sys.executable, "-c", code], tmp_path, b"21.5")


def test_paho_example_over_tls_with_the_generated_certificate(
    guide: Guide, install: Install, tmp_path: Path
) -> None:
    """The TLS recipe: the plain example, `tls_set(ca_certs="cert.pem")` before connect, the TLS port."""
    tls_line = next(e for e in guide.examples if e.startswith("client.tls_set"))
    instruction = re.search(r'connect\("([^"]+)", (\d+)\)', tls_line)
    assert instruction is not None
    host, port = instruction.groups()
    assert int(port) == install.mqtts
    cert = next(install.data_dir.glob("**/*cert*.pem"))
    shutil.copy(cert, tmp_path / "cert.pem")
    code = example(guide, "import paho").replace(
        f'client.connect("{host}", {install.mqtt})',
        f'{tls_line.split("  #")[0]}\nclient.connect("{host}", {port})',
    )
    assert "tls_set" in code and f", {port})" in code
    run_until_received(guide, [sys.executable, "-c", code], tmp_path, b"21.5")


@pytest.mark.skipif(shutil.which("mosquitto_pub") is None, reason="mosquitto_pub is not installed")
def test_mosquitto_pub_example(guide: Guide, tmp_path: Path) -> None:
    run_until_received(guide, ["sh", "-c", example(guide, "mosquitto_pub")], tmp_path, b"21.5")


@pytest.mark.skipif(shutil.which("mosquitto_pub") is None, reason="mosquitto_pub is not installed")
def test_mosquitto_pub_example_over_tls(guide: Guide, install: Install, tmp_path: Path) -> None:
    cert = next(install.data_dir.glob("**/*cert*.pem"))
    shutil.copy(cert, tmp_path / "cert.pem")
    run_until_received(guide, ["sh", "-c", example(guide, "mosquitto_pub", tls=True)], tmp_path, b"21.5")


def run_until_received(guide: Guide, command: list[str], cwd: Path, payload: bytes) -> None:
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        guide.watcher.expect(payload)
    except queue.Empty:
        process.kill()
        raise AssertionError(f"nothing arrived; the example printed:\n{process.communicate()[0]}") from None
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
