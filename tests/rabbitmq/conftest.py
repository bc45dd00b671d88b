"""One RabbitMQ cluster (two nodes on loopback) for the whole test session, answering its logins
through the live server's auth endpoints, and the `rabbitmq` fixture that switches a test's dashboard
to the RabbitMQ engine.

Where Debian's rabbitmq-server is missing and cannot be installed (not root, no apt-get), the
cluster tests are skipped saying so, except in CI, where that is a failure.
"""

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from cloudsignal.rabbitmq import vhosts
from cloudsignal.rabbitmq.cluster import Cluster, install_rabbitmq


@dataclass
class RunningCluster:
    cluster: Cluster
    secret: str

    @property
    def mqtt_ports(self) -> list[int]:
        return [n.mqtt_port for n in self.cluster.nodes]


@pytest.fixture(scope="session")
def rabbitmq_cluster(live_server: Any) -> Iterator[RunningCluster]:
    if not install_rabbitmq():
        message = "rabbitmq-server is not installed and cannot be installed here (needs root and apt-get)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    secret = secrets.token_urlsafe(16)
    cluster = Cluster(auth_url=f"{live_server.url}/rabbitmq-auth/{secret}/")
    cluster.start()
    try:
        yield RunningCluster(cluster, secret)
    finally:
        cluster.stop(graceful=False)


@pytest.fixture
def rabbitmq(
    rabbitmq_cluster: RunningCluster, settings: SettingsWrapper, transactional_db: None
) -> RunningCluster:
    """The dashboard of this test governs the cluster (CLOUDSIGNAL_BROKER=rabbitmq)."""
    cluster = rabbitmq_cluster.cluster
    settings.BROKER = "rabbitmq"
    settings.BROKER_ENGINE = settings.BROKER_ENGINES["rabbitmq"]
    settings.RABBITMQ_MANAGEMENT_URLS = cluster.management_urls
    settings.RABBITMQ_USER = cluster.admin_user
    settings.RABBITMQ_PASSWORD = cluster.admin_password
    settings.RABBITMQ_AUTH_SECRET = rabbitmq_cluster.secret
    return rabbitmq_cluster


def sync_vhosts() -> None:
    """The vhosts of the workspaces fixtures made before the engine was switched."""
    vhosts.sync()
