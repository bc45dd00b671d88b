"""`manage.py serve` (what `make run` ends in): dashboard and broker together, stopped together."""

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from django.conf import settings

from tests.support.net import free_port, port_open
from tests.support.waiting import wait_for

ROOT = Path(settings.BASE_DIR)


def serve(tmp_path: Path, **ports: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSIGNAL_")}
    env.pop("DATABASE_URL", None)
    env |= {
        "CLOUDSIGNAL_DATA_DIR": str(tmp_path),
        "CLOUDSIGNAL_MQTT_BIND": "127.0.0.1",
        **{f"CLOUDSIGNAL_{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    return subprocess.Popen(
        [sys.executable, "manage.py", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_ctrl_c_stops_dashboard_and_broker_cleanly(tmp_path: Path) -> None:
    ports = {"http": free_port(), "mqtt": free_port(), "mqtts": free_port(), "ws": free_port()}
    process = serve(tmp_path, **ports)
    try:
        wait_for(lambda: process.poll() is not None or all(port_open(p) for p in ports.values()), timeout=60)
        assert process.poll() is None
        # The console shows the one way into first-run setup: the link with its token.
        setup_url = next(line for line in process.stdout if line.startswith("Finish setting up"))  # type: ignore[union-attr]
        setup_url = setup_url.split(" at ", 1)[1].strip().replace("localhost", "127.0.0.1")
        assert "?token=" in setup_url
        page = urllib.request.urlopen(setup_url, timeout=5)  # noqa: S310 (an http URL we printed)
        assert b"Create organization" in page.read()
        # Static files are served by the production server too.
        css = urllib.request.urlopen(f"http://127.0.0.1:{ports['http']}/static/css/app.css", timeout=5)
        assert css.status == 200
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    # The broker went with it: nothing listens any more.
    assert not any(port_open(p) for p in ports.values())


def test_busy_mqtt_port_stops_start_up_naming_the_variable(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        process = serve(tmp_path, http=free_port(), mqtt=busy, mqtts=free_port(), ws=free_port())
        output = process.communicate(timeout=60)[0]
    assert process.returncode != 0
    assert f"Port {busy}" in output and "CLOUDSIGNAL_MQTT_PORT" in output
