"""Failure drills, as automated tests with real processes: the database stopped and started under live
sessions, the broker killed and restarted, the web process down while the broker runs."""

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from clients.models import BROKER_STALE_AFTER_SECONDS, LiveSession, MqttClient
from tests.broker.devices import Device
from tests.support.broker_process import BrokerProcess, database_url
from tests.support.net import free_port, port_open
from tests.support.waiting import wait_for
from workspaces.models import Organization

MakeClient = Callable[..., tuple[MqttClient, str]]
ROOT = Path(settings.BASE_DIR)
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


@pytest.fixture
def data_dir(transactional_db: None, settings: Any) -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="cs-"))
    settings.BROKER_CONTROL_SOCKET = directory / "broker.sock"
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


# PostgreSQL stopped and started: a private server, never the machine's shared one.


class PrivatePostgres:
    """A PostgreSQL cluster of its own in a temp dir, on a free port, stopped and started at will."""

    def __init__(self, directory: Path) -> None:
        assert PG_BIN is not None
        self.directory = directory
        self.port = free_port()
        # initdb refuses to run as root; the packaged server's user runs it then.
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(directory, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(directory / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "drill")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/drill"

    def _run(self, tool: str, *args: str) -> None:
        assert PG_BIN is not None
        subprocess.run(
            [*self.as_user, str(PG_BIN / tool), *args], check=True, capture_output=True, timeout=120
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-o", options, "-w", "-l",
                  str(self.directory / "log"), "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    if PG_BIN is None or not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    directory = Path(tempfile.mkdtemp(prefix="cs-pg-"))
    server = PrivatePostgres(directory)
    yield server
    with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
        server.stop()
    shutil.rmtree(directory, ignore_errors=True)


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


CREATE_CLIENTS = """
from clients.provisioning import create_client
from workspaces.onboarding import create_organization, find_or_create_user
owner = find_or_create_user("owner@drill.example")
org = create_organization(owner=owner, name="Drill")
for name in ("live", "newcomer"):
    client, password = create_client(organization=org, username=name, created_by=owner)
    print("credential", client.full_username, password)
"""


def test_postgresql_stopped_and_started_under_live_sessions(
    private_postgres: PrivatePostgres, devices: Callable[..., Device]
) -> None:
    """Live sessions keep working while the database is down; a new login gets CONNACK 3 (server
    unavailable) rather than a hang or a crash; once it is back, logins work again by themselves."""
    directory = Path(tempfile.mkdtemp(prefix="cs-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSIGNAL_")}
    env |= {"DATABASE_URL": private_postgres.url, "CLOUDSIGNAL_DATA_DIR": str(directory)}
    try:
        manage(env, "migrate", "-v0")
        output = manage(env, "shell", "-c", CREATE_CLIENTS).splitlines()
        created = [line.split()[1:] for line in output if line.startswith("credential ")]
        (live_user, live_password), (new_user, new_password) = [c for c in created if len(c) == 2]
        broker = BrokerProcess(directory, DATABASE_URL=private_postgres.url)
        try:
            port = broker.ports["mqtt"]
            live = devices(port, live_user, live_password, "live", clean_session=False)
            assert live.connect() == 0
            assert live.subscribe("drill/#", 1) == 1

            private_postgres.stop()
            live.publish("drill/1", b"while the database is down", qos=1)
            assert live.expect().payload == b"while the database is down"
            assert devices(port, new_user, new_password, "newcomer").connect() == 3
            assert not live.disconnected.is_set()

            private_postgres.start()
            wait_for(lambda: devices(port, new_user, new_password, "newcomer").connect() == 0, timeout=30)
            live.publish("drill/2", b"after", qos=1)
            assert live.expect().payload == b"after"
            assert not live.disconnected.is_set()
            assert broker.process.poll() is None
        finally:
            if broker.process.poll() is None:
                assert broker.stop() == 0, broker.log()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# The broker killed and restarted.


def test_a_killed_broker_leaves_no_stale_online_state(
    org: Organization, make_client: MakeClient, data_dir: Path, devices: Callable[..., Device]
) -> None:
    """After SIGKILL the dashboard stops counting the dead broker's sessions as online once its
    heartbeat is stale; the device reconnecting to the new broker is the one session shown."""
    client, password = make_client(org, "sensor-1")
    first = BrokerProcess(data_dir)
    try:
        d = devices(first.ports["mqtt"], client.full_username, password, "dev")
        assert d.connect() == 0
        wait_for(lambda: LiveSession.objects.alive().filter(client=client).count() == 1)
        first.kill()
        assert d.wait_disconnected(5)
        second = BrokerProcess(data_dir)
        try:
            again = devices(second.ports["mqtt"], client.full_username, password, "dev")
            assert again.connect() == 0

            def shown_once_by_the_new_broker() -> bool:
                rows = list(LiveSession.objects.alive().filter(client=client).select_related("node"))
                return len(rows) == 1 and rows[0].node.pid == second.process.pid

            wait_for(shown_once_by_the_new_broker, timeout=30)
            # The dead broker's row stops counting once its heartbeat is stale (the dashboard reads
            # alive() only); a broker starting after that deletes it.
            wait_for(
                lambda: not LiveSession.objects.alive().filter(node__pid=first.process.pid).exists(),
                timeout=BROKER_STALE_AFTER_SECONDS + 5,
            )
        finally:
            assert second.stop() == 0
    finally:
        if first.process.poll() is None:
            first.kill()


# The web process down while the broker runs.


def test_devices_are_unaffected_while_the_web_process_is_down(
    org: Organization, make_client: MakeClient, data_dir: Path, devices: Callable[..., Device]
) -> None:
    client, password = make_client(org, "sensor-1")
    other, other_password = make_client(org, "sensor-2")
    broker = BrokerProcess(data_dir)
    http = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSIGNAL_")}
    env |= {
        "DATABASE_URL": database_url(),
        "CLOUDSIGNAL_DATA_DIR": str(data_dir),
        "CLOUDSIGNAL_BROKER_SOCKET": str(broker.socket),
        "CLOUDSIGNAL_HTTP_PORT": str(http),
    }
    web = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--no-broker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port = broker.ports["mqtt"]
        d = devices(port, client.full_username, password, "dev")
        assert d.connect() == 0
        assert d.subscribe("data/#", 1) == 1
        wait_for(lambda: port_open(http), timeout=60)
        assert urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz", timeout=5).status == 200

        web.send_signal(signal.SIGKILL)
        web.wait(30)
        assert not port_open(http)
        d.publish("data/1", b"web is down", qos=1)
        assert d.expect().payload == b"web is down"
        newcomer = devices(port, other.full_username, other_password, "new")
        assert newcomer.connect() == 0
        newcomer.publish("data/2", b"new login too", qos=1)
        assert d.expect().payload == b"new login too"
        # Revocation does not need the web process: the CLI reaches the broker directly.
        other.disable()
        assert newcomer.wait_disconnected(5)
        assert not d.disconnected.is_set()
    finally:
        if web.poll() is None:
            web.kill()
            web.wait(30)
        assert broker.stop() == 0
