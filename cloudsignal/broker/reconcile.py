"""The safety net under revocation hints: every few seconds, every stored session against the database.

Hints can be lost (the broker was down or restarting when the change committed, the socket was
full); this loop catches them with one query per 900 credentials, however many sessions there are.
It also forgets the retained messages of workspaces that were deleted.
"""

import asyncio
import logging
from typing import TYPE_CHECKING

from cloudsignal.broker import namespace
from cloudsignal.broker.kick import current_credentials
from workspaces.models import Workspace

if TYPE_CHECKING:
    from cloudsignal.broker.broker import CloudSignalBroker

log = logging.getLogger(__name__)


async def reconcile_forever(broker: "CloudSignalBroker", interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await reconcile(broker)
        except Exception:
            log.warning("reconciliation failed; trying again in %ss", interval, exc_info=True)


async def reconcile(broker: "CloudSignalBroker") -> int:
    """End every session whose credential is gone, disabled or changed. Returns connections closed."""
    ended = 0
    pks = broker.registry.client_pks()
    if pks:
        current = await broker.control_pool.run(current_credentials, pks)
        ended = await broker.revoker.reconcile(pks, current)
    await _drop_retained_of_deleted_workspaces(broker)
    return ended


async def _drop_retained_of_deleted_workspaces(broker: "CloudSignalBroker") -> None:
    holders = {topic.split("/", 1)[0] for topic in broker.retained_messages}
    workspace_ids = {int(h[1:]) for h in holders if h.startswith("w") and h[1:].isdigit()}
    if not workspace_ids:
        return
    existing = await broker.control_pool.run(
        lambda: set(Workspace.objects.filter(pk__in=workspace_ids).values_list("pk", flat=True))
    )
    gone = tuple(namespace.topic_prefix(ws) for ws in workspace_ids - existing)
    if gone:
        for topic in [t for t in broker.retained_messages if t.startswith(gone)]:
            del broker.retained_messages[topic]
