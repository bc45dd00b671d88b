"""One RabbitMQ vhost per workspace, `ws-<workspace id>`: added when the workspace is, deleted with it
(RabbitMQ then closes the connections inside). A rename changes nothing: the name is the id.

Signals, because workspaces are created by the workspaces app, which must not know which broker
runs; sync() repairs whatever a change made while no node answered (`serve` runs it with each
reconciliation, reconcile.py, and `manage.py cluster` once the cluster is up).
"""

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from cloudsignal.rabbitmq.engine import VHOST_PREFIX, management, vhost_of, workspace_of_vhost
from cloudsignal.rabbitmq.management import Management, Unreachable
from workspaces.models import Workspace

log = logging.getLogger(__name__)


def sync(api: Management | None = None) -> tuple[int, int]:
    """Add the vhosts of workspaces that lack one and delete those of workspaces that are gone;
    returns (added, deleted). Raises Unreachable when no node answers."""
    api = api or management()
    present = {v for v in api.vhosts() if v.startswith(VHOST_PREFIX)}
    wanted = {vhost_of(pk) for pk in Workspace.objects.values_list("pk", flat=True)}
    for name in sorted(wanted - present):
        api.add_vhost(name)
    stale = sorted(v for v in present - wanted if workspace_of_vhost(v) is not None)
    for name in stale:
        api.delete_vhost(name)
    return len(wanted - present), len(stale)


def _workspace_saved(sender: Any, instance: Workspace, created: bool, **kwargs: Any) -> None:
    if created and settings.BROKER == "rabbitmq":
        transaction.on_commit(lambda: _quietly(lambda: management().add_vhost(vhost_of(instance.pk))))


def _workspace_deleted(sender: Any, instance: Workspace, **kwargs: Any) -> None:
    if settings.BROKER == "rabbitmq":
        name = vhost_of(instance.pk)
        transaction.on_commit(lambda: _quietly(lambda: management().delete_vhost(name)))


def _quietly(call: Any) -> None:
    try:
        call()
    except Unreachable as exc:
        log.warning("RabbitMQ vhost change postponed to the next sync: %s", exc)


def connect() -> None:
    post_save.connect(_workspace_saved, sender=Workspace, dispatch_uid="rabbitmq-vhost-added")
    post_delete.connect(_workspace_deleted, sender=Workspace, dispatch_uid="rabbitmq-vhost-deleted")
