"""Fixtures for tests against a real broker: free loopback ports, its control socket in a fresh temp
dir, and paho devices. A pytest plugin, registered once in tests/conftest.py."""

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from cloudsignal.broker.config import BrokerOptions, loopback_listeners
from cloudsignal.broker.runner import BrokerThread
from tests.broker.devices import Device


@pytest.fixture
def control_socket(settings: SettingsWrapper) -> Iterator[Path]:
    # A short path of its own (unix socket paths are limited to ~100 bytes), and the setting the
    # dashboard's revocation channel reads points at it.
    directory = Path(tempfile.mkdtemp(prefix="cs-"))
    settings.BROKER_CONTROL_SOCKET = directory / "broker.sock"
    yield directory / "broker.sock"
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def broker_options(control_socket: Path) -> BrokerOptions:
    return BrokerOptions(listeners=loopback_listeners(), control_socket=control_socket, reconcile_seconds=1)


@pytest.fixture
def start_broker(transactional_db: None) -> Iterator[Callable[[BrokerOptions], BrokerThread]]:
    started: list[BrokerThread] = []

    def start(options: BrokerOptions) -> BrokerThread:
        broker = BrokerThread(options).start()
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture
def broker(
    start_broker: Callable[[BrokerOptions], BrokerThread], broker_options: BrokerOptions
) -> BrokerThread:
    return start_broker(broker_options)


@pytest.fixture
def tls_broker(start_broker: Callable[[BrokerOptions], BrokerThread], control_socket: Path) -> BrokerThread:
    """A broker with a TLS listener as well, serving the self-signed certificate of the data dir."""
    return start_broker(BrokerOptions(listeners=loopback_listeners(tls=True), control_socket=control_socket))


@pytest.fixture
def device(broker: BrokerThread) -> Iterator[Callable[..., Device]]:
    """Make a paho device aimed at the broker's plain MQTT port (or `port=`); all are closed after."""
    made: list[Device] = []

    def make(username: str | None, password: str | None, client_id: str = "", **kwargs: Any) -> Device:
        port = kwargs.pop("port", broker.ports["mqtt"])
        d = Device(port, username, password, client_id, **kwargs)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


@pytest.fixture
def devices() -> Iterator[Callable[..., Device]]:
    """Make a paho device aimed at any port (a broker process of the test's own); all closed after."""
    made: list[Device] = []

    def make(port: int, username: str, password: str, client_id: str, **kwargs: Any) -> Device:
        made.append(Device(port, username, password, client_id, **kwargs))
        return made[-1]

    yield make
    for d in made:
        d.close()
