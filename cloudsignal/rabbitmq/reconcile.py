"""Reconciliation: the database is the truth, so every RECONCILE_SECONDS `serve` closes the RabbitMQ
connections it no longer allows, catching a revocation whose management API call was lost (no node
answered at that moment). Also repairs the vhosts (vhosts.sync()).

It reads RabbitMQ's connection listing (a few seconds late) and closes a connection whose credential
is gone, disabled, renamed, in another workspace, or whose password changed after it connected.
"""

import logging
import time
from datetime import UTC, datetime

from django import db

from clients.models import MqttClient
from cloudsignal.broker.auth import split_username
from cloudsignal.rabbitmq import vhosts
from cloudsignal.rabbitmq.engine import management, vhost_of
from cloudsignal.rabbitmq.management import Management, Unreachable

log = logging.getLogger(__name__)

RECONCILE_SECONDS = 10


def reconcile(api: Management | None = None) -> int:
    """Close the connections the database no longer allows; returns how many."""
    api = api or management()
    closed = 0
    for connection in api.connections():
        username = str(connection.get("user", ""))
        parsed = split_username(username)
        if parsed is None:
            continue  # not a device of ours (the admin user)
        client = MqttClient.objects.by_username(parsed[1], parsed[0]).first()
        since = datetime.fromtimestamp(int(connection.get("connected_at") or 0) / 1000, UTC)
        allowed = (
            client is not None
            and client.enabled
            and client.full_username == username
            and connection.get("vhost") == vhost_of(client.workspace_id)
            and client.password_changed <= since
        )
        if not allowed and api.close_connection(str(connection["name"])):
            log.info("closed %s of %s: the database no longer allows it", connection["name"], username)
            closed += 1
    return closed


def keep_in_step() -> None:
    """reconcile() and vhosts.sync() every RECONCILE_SECONDS, for as long as the process runs (a
    daemon thread of `serve` with CLOUDSIGNAL_BROKER=rabbitmq)."""
    while True:
        try:
            vhosts.sync()
            reconcile()
        except (Unreachable, db.Error) as exc:
            log.warning("RabbitMQ not reconciled: %s", exc)
        finally:
            db.connections.close_all()
        time.sleep(RECONCILE_SECONDS)
