"""docker-compose.yml's app service, run without Docker: the exact command it runs, on PostgreSQL.

Our machines have no Docker engine, so this runs the service's own `sh -c` command with the venv's
Python first on PATH, the environment the compose file gives (ports moved to free ones), and a fresh
PostgreSQL database in place of the `db` service.
"""

import os
import re
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from django.conf import settings

from tests.support.net import free_port, port_open
from tests.support.waiting import wait_for

ROOT = Path(settings.BASE_DIR)


def compose_app() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["app"]


def substitute(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} interpolation."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        if op == ":-":
            return env.get(name) or arg
        return env[name]

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the local PostgreSQL server, dropped afterwards."""
    server = "postgres://postgres@127.0.0.1:5432/postgres"
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        server = os.environ["DATABASE_URL"]
    name = f"cloudsignal_compose_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(server, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL at {server}: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


def test_compose_file_is_configured_only_through_documented_variables() -> None:
    documented = set(re.findall(r"^#?\s*([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    used = set(compose_app()["environment"]) | set(
        re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text())
    )
    assert used - documented == set()


def test_app_service_command_serves_dashboard_and_broker_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    app = compose_app()
    command = app["command"]
    assert command[:2] == ["sh", "-c"]
    http, mqtt, mqtts, ws = free_port(), free_port(), free_port(), free_port()
    given = {"POSTGRES_PASSWORD": "unused", "SECRET_KEY": "", "CLOUDSIGNAL_PUBLIC_HOST": "localhost"}
    env = {name: substitute(str(value), given) for name, value in app["environment"].items()}
    env |= {
        # What the `db` service and the container's filesystem and ports provide.
        "DATABASE_URL": postgres_url,
        "CLOUDSIGNAL_DATA_DIR": str(tmp_path),
        "CLOUDSIGNAL_HTTP_HOST": "127.0.0.1",
        "CLOUDSIGNAL_MQTT_BIND": "127.0.0.1",
        "CLOUDSIGNAL_HTTP_PORT": str(http),
        "CLOUDSIGNAL_MQTT_PORT": str(mqtt),
        "CLOUDSIGNAL_MQTTS_PORT": str(mqtts),
        "CLOUDSIGNAL_WS_PORT": str(ws),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", "/root"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        wait_for(lambda: process.poll() is not None or port_open(http), timeout=120)
        assert process.poll() is None, "the app service exited during start-up"
        health = urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz", timeout=5)
        assert health.read() == b"ok"
        # Without the token from the console, setup says where to find it.
        setup = urllib.request.urlopen(f"http://127.0.0.1:{http}/setup/", timeout=5)
        assert b"docker compose logs app" in setup.read()
        wait_for(lambda: port_open(mqtt) and port_open(ws) and port_open(mqtts), timeout=60)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0, "SIGTERM should stop the service cleanly"
