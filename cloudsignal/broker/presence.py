"""Who is online, for the dashboard: this broker's BrokerNode row and one LiveSession row per connection.

Writes happen in one thread of their own, batched: connects and disconnects queue up and are written
in one transaction as soon as the previous batch is done, so a login burst costs a few transactions,
not one per login, and never blocks the event loop. The node's heartbeat keeps its sessions "live";
a crashed broker stops beating and the dashboard stops counting its rows (the next broker to start
deletes them).
"""

import asyncio
import logging
import os
import uuid
from datetime import timedelta
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from clients.models import (
    BROKER_HEARTBEAT_SECONDS,
    BROKER_STALE_AFTER_SECONDS,
    BrokerNode,
    LiveSession,
    MqttClient,
)
from cloudsignal.broker.blocking import ThreadPool
from cloudsignal.broker.sessions import LiveConnection

log = logging.getLogger(__name__)


class Presence:
    def __init__(self, live: dict[str, LiveConnection], control_socket: Path) -> None:
        self._live = live
        self._control_socket = str(control_socket)
        self._pool = ThreadPool(1, "presence")
        self._queue: list[tuple[bool, LiveConnection]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.node_id = uuid.uuid4()

    async def start(self) -> None:
        await self._pool.run(_register_node, self.node_id, self._control_socket)
        self._tasks = [asyncio.create_task(self._write_loop()), asyncio.create_task(self._heartbeat_loop())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            # Deleting the node deletes its LiveSession rows too.
            await self._pool.run(BrokerNode.objects.filter(pk=self.node_id).delete)
        except Exception:
            log.warning(
                "could not delete broker node %s; it goes stale on its own", self.node_id, exc_info=True
            )
        self._pool.shutdown()

    def connected(self, conn: LiveConnection) -> None:
        self._queue.append((True, conn))
        self._wake.set()

    def disconnected(self, conn: LiveConnection) -> None:
        self._queue.append((False, conn))
        self._wake.set()

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            try:
                if not await self._pool.run(_write, self.node_id, batch):
                    await self._register_again()
            except Exception:
                # One bad row must not lose the others: write them one by one.
                log.info("presence batch of %d failed; writing one by one", len(batch), exc_info=True)
                for change in batch:
                    try:
                        await self._pool.run(_write, self.node_id, [change])
                    except Exception:
                        log.warning("presence change for %s not written", change[1].key, exc_info=True)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(BROKER_HEARTBEAT_SECONDS)
            try:
                if not await self._pool.run(_beat, self.node_id):
                    await self._register_again()
            except Exception:
                log.warning("broker heartbeat failed", exc_info=True)

    async def _register_again(self) -> None:
        """Our node row is gone: another broker took us for dead (we were paused too long) and
        deleted it with our sessions' rows. Put both back."""
        log.warning("broker node %s was removed; registering again", self.node_id)
        await self._pool.run(_register_node, self.node_id, self._control_socket)
        for conn in self._live.values():
            conn.row_id = None
            self.connected(conn)


def _write(node_id: uuid.UUID, batch: list[tuple[bool, LiveConnection]]) -> bool:
    """Write a batch of connects and disconnects; False (nothing written) if our node row is gone."""
    # A connection that came and went within one batch needs no row at all.
    came = {id(conn) for is_new, conn in batch if is_new}
    went = {id(conn) for is_new, conn in batch if not is_new}
    now = timezone.now()
    with transaction.atomic():
        if not BrokerNode.objects.filter(pk=node_id).exists():
            return False
        # Rows of credentials deleted meanwhile are skipped (their sessions are being ended); on
        # SQLite a foreign key error would only show at commit and fail the whole batch.
        wanted = {conn.login.client_pk for is_new, conn in batch if is_new}
        existing = set(MqttClient.objects.filter(pk__in=wanted).values_list("pk", flat=True))
        # Ended rows first: a device reconnecting with the same client id within one batch gets a new
        # row for the same (node, client, client id).
        gone = [
            conn.row_id
            for is_new, conn in batch
            if not is_new and id(conn) not in came and conn.row_id is not None
        ]
        if gone:
            LiveSession.objects.filter(pk__in=gone).delete()
        new = [
            (
                conn,
                LiveSession(
                    node_id=node_id,
                    client_id=conn.login.client_pk,
                    mqtt_client_id=conn.device_client_id[:256],
                    remote_address=conn.remote_address[:100],
                    listener=conn.listener,
                    connected_since=conn.connected_since,
                ),
            )
            for is_new, conn in batch
            if is_new and id(conn) not in went and conn.login.client_pk in existing
        ]
        # One statement per batch where the database returns the new rows' ids (PostgreSQL, SQLite
        # 3.35+), one per row elsewhere.
        if connection.features.can_return_rows_from_bulk_insert:
            LiveSession.objects.bulk_create([row for _conn, row in new])
        else:
            for _conn, row in new:
                row.save()
        for conn, row in new:
            conn.row_id = row.pk
        if existing:
            MqttClient.objects.filter(pk__in=existing).update(last_connected=now)
    return True


def _register_node(node_id: uuid.UUID, control_socket: str) -> None:
    """Create this broker's node row, after deleting nodes that stopped beating (crashed brokers)."""
    cutoff = timezone.now() - timedelta(seconds=BROKER_STALE_AFTER_SECONDS)
    BrokerNode.objects.filter(heartbeat__lt=cutoff).delete()
    BrokerNode.objects.create(id=node_id, pid=os.getpid(), control_socket=control_socket)


def _beat(node_id: uuid.UUID) -> bool:
    return BrokerNode.objects.filter(pk=node_id).update(heartbeat=timezone.now()) == 1
