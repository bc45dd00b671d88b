"""Connection history for the dashboard: one ConnectionRecord per ended connection, and per login refused
for a known credential (disabled, throttled, client id in use), with why.

Written like presence.py: off the event loop, in one thread of its own, in batches (whatever queued up
while the previous batch was written goes in one transaction). The queue is bounded: when the database
cannot keep up, the oldest unwritten records are dropped and counted in the log, never the broker's
memory. Rows older than the configured number of days are pruned at start and every hour.
"""

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from clients.models import ConnectionRecord, MqttClient
from cloudsignal.broker.blocking import ThreadPool

log = logging.getLogger(__name__)

MAX_QUEUED = 10_000
PRUNE_EVERY_SECONDS = 3600.0

Reason = ConnectionRecord.EndReason


@dataclass(frozen=True)
class Ended:
    """A connection as it ended (or a refused login: accepted False)."""

    client_pk: int
    connected_at: datetime
    reason: str
    remote_address: str
    listener: str
    mqtt_client_id: str
    accepted: bool = True
    ended_at: datetime | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    messages_in: int = 0
    messages_out: int = 0
    detail: str = ""


class ConnectionHistory:
    def __init__(self, keep_days: int) -> None:
        self.keep_days = keep_days
        self._pool = ThreadPool(1, "history")
        self._queue: deque[Ended] = deque(maxlen=MAX_QUEUED)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._write_loop()), asyncio.create_task(self._prune_loop())]

    async def stop(self) -> None:
        """Write what is queued (the server-shutdown records among it), then stop."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._queue:
            try:
                await self._pool.run(_write, list(self._queue))
            except Exception:
                log.warning("%d connection records not written at shutdown", len(self._queue), exc_info=True)
        self._pool.shutdown()

    def record(self, ended: Ended) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(ended)
        self._wake.set()

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch = list(self._queue)
            self._queue.clear()
            try:
                await self._pool.run(_write, batch)
            except Exception:
                log.warning("%d connection records not written", len(batch), exc_info=True)

    async def _prune_loop(self) -> None:
        while True:
            try:
                pruned = await self._pool.run(prune, self.keep_days)
                if pruned:
                    log.info("pruned %d connection records older than %d days", pruned, self.keep_days)
            except Exception:
                log.warning("pruning connection history failed", exc_info=True)
            await asyncio.sleep(PRUNE_EVERY_SECONDS)


def _write(batch: list[Ended]) -> None:
    now = timezone.now()
    with transaction.atomic():
        # Records of credentials deleted meanwhile go with them (as their rows would, by cascade).
        existing = set(
            MqttClient.objects.filter(pk__in={e.client_pk for e in batch}).values_list("pk", flat=True)
        )
        ConnectionRecord.objects.bulk_create(
            ConnectionRecord(
                client_id=e.client_pk,
                accepted=e.accepted,
                connected_at=e.connected_at,
                ended_at=e.ended_at or now,
                remote_address=e.remote_address[:100],
                listener=e.listener,
                mqtt_client_id=e.mqtt_client_id[:256],
                bytes_in=e.bytes_in,
                bytes_out=e.bytes_out,
                messages_in=e.messages_in,
                messages_out=e.messages_out,
                end_reason=e.reason,
                detail=e.detail[:200],
            )
            for e in batch
            if e.client_pk in existing
        )


def prune(keep_days: int) -> int:
    return ConnectionRecord.objects.older_than(keep_days).delete()[0]
