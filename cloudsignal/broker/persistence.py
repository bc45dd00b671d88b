"""What survives a broker restart: retained messages and persistent sessions, kept in the database.

The broker tells this module what changed (a retained topic, a session key) and carries on; one
writer task collects the changes and writes them in one transaction in a thread of its own, as soon
as the previous write is done, so a burst costs a few transactions and never blocks the event loop.
Session records are taken on the event loop when written (the broker's `snapshot` callback), so a
session changed many times in a burst is written once, as it is then.

What each kind of stop keeps:

- SIGTERM (`manage.py runbroker` shutting down): everything. `save_all` writes every persistent
  session, with its queued and in-flight QoS 1/2 messages, before the broker closes connections.
- SIGKILL (or a crash, or power loss): what was written before it. Retained messages, subscriptions
  and queued messages are written as they change, within a write or two (milliseconds); a session's
  in-flight messages are written when it disconnects, not while it is connected (it would cost a
  write per message acknowledged). So a SIGKILL loses the changes of the last few milliseconds, and
  the QoS 1/2 messages in flight to connected devices: those were sent once, and not again.
"""

import asyncio
import base64
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from clients.models import MqttClient, RetainedMessage, StoredSession
from cloudsignal.broker.blocking import ThreadPool
from workspaces.models import Workspace

log = logging.getLogger(__name__)

# After a failed write (the database is down), wait this long before trying again.
RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class InFlight:
    packet_id: int
    topic: str
    payload: bytes
    qos: int
    # QoS 2: PUBREC came and PUBREL was sent; what is owed again is the PUBREL.
    released: bool


@dataclass
class SessionRecord:
    """A persistent session, device's view: topics and filters without the workspace prefix."""

    workspace_id: int
    device_client_id: str
    client_pk: int
    credential_version: int
    subscriptions: list[tuple[str, int]] = field(default_factory=list)
    queued: list[tuple[str, bytes, int]] = field(default_factory=list)
    inflight: list[InFlight] = field(default_factory=list)


@dataclass(frozen=True)
class Retained:
    workspace_id: int
    topic: str
    payload: bytes
    qos: int


@dataclass
class Stored:
    """Everything kept, as read at start-up."""

    retained: list[Retained]
    sessions: list[SessionRecord]
    # client pk -> (workspace id, organization id, username, credential version) of the credentials
    # that own sessions, as they are now.
    owners: dict[int, tuple[int, uuid.UUID, str, int]]


# Session key -> its record, or None when it is to be forgotten.
Snapshot = Callable[[str], SessionRecord | None]
# (workspace id, device session key) of each pending change.
SessionKey = tuple[int, str]


class Persistence:
    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._pool = ThreadPool(1, "persistence")
        # Pending changes: retained (workspace, topic) -> message or None (cleared); session keys.
        self._retained: dict[tuple[int, str], Retained | None] = {}
        self._sessions: dict[str, SessionKey] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        # Set at shutdown once everything is saved: the broker's own clean-up then forgets nothing.
        self.frozen = False

    async def load(self) -> Stored:
        return await self._pool.run(_read)

    def start(self) -> None:
        self._task = asyncio.create_task(self._write_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._pool.shutdown()

    # What changed.

    def retained_changed(self, workspace_id: int, topic: str, payload: bytes | None, qos: int) -> None:
        if self.frozen:
            return
        message = Retained(workspace_id, topic, payload, qos) if payload else None
        self._retained[(workspace_id, topic)] = message
        self._changed()

    def session_changed(self, key: str, workspace_id: int, device_client_id: str) -> None:
        if self.frozen:
            return
        self._sessions[key] = (workspace_id, device_client_id)
        self._changed()

    def _changed(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def save_all(self, keys: list[tuple[str, int, str]]) -> None:
        """Write these sessions and every pending change now, then ignore further changes (shutdown)."""
        for key, workspace_id, device_client_id in keys:
            self._sessions[key] = (workspace_id, device_client_id)
        self._changed()
        await self.flushed()
        self.frozen = True

    async def flushed(self, timeout: float = 10.0) -> None:
        """Wait until every change made so far is written (or the wait times out, logged)."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            log.warning("broker state not saved within %ss (is the database down?)", timeout)

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            retained, self._retained = self._retained, {}
            keys, self._sessions = self._sessions, {}
            records = {key: (where, self._snapshot(key)) for key, where in keys.items()}
            try:
                await self._pool.run(_write, retained, records)
            except Exception:
                log.warning("saving broker state failed; trying again in %ss", RETRY_SECONDS, exc_info=True)
                # Put back what a newer change has not replaced, and try again.
                self._retained = retained | self._retained
                self._sessions = keys | self._sessions
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()
                continue
            if not self._wake.is_set():
                self._idle.set()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _write(
    retained: dict[tuple[int, str], Retained | None],
    records: dict[str, tuple[SessionKey, SessionRecord | None]],
) -> None:
    workspaces = {ws for ws, _ in retained} | {where[0] for where, _ in records.values()}
    existing = set(Workspace.objects.filter(pk__in=workspaces).values_list("pk", flat=True))
    owners = {r.client_pk for _, r in records.values() if r is not None}
    existing_owners = set(MqttClient.objects.filter(pk__in=owners).values_list("pk", flat=True))
    with transaction.atomic():
        for (ws, topic), message in retained.items():
            if message is None or ws not in existing:
                RetainedMessage.objects.filter(workspace_id=ws, topic=topic).delete()
                continue
            RetainedMessage.objects.update_or_create(
                workspace_id=ws, topic=topic, defaults={"payload": message.payload, "qos": message.qos}
            )
        for (ws, device_client_id), record in records.values():
            if record is None or ws not in existing or record.client_pk not in existing_owners:
                StoredSession.objects.filter(workspace_id=ws, device_client_id=device_client_id).delete()
                continue
            StoredSession.objects.update_or_create(
                workspace_id=ws,
                device_client_id=device_client_id,
                defaults={
                    "owner_id": record.client_pk,
                    "credential_version": record.credential_version,
                    "subscriptions": [list(s) for s in record.subscriptions],
                    "queued": [[t, _b64(p), q] for t, p, q in record.queued],
                    "inflight": [
                        [m.packet_id, m.topic, _b64(m.payload), m.qos, m.released] for m in record.inflight
                    ],
                },
            )


def _read() -> Stored:
    retained = [
        Retained(m.workspace_id, m.topic, bytes(m.payload), m.qos) for m in RetainedMessage.objects.all()
    ]
    sessions = [
        SessionRecord(
            workspace_id=s.workspace_id,
            device_client_id=s.device_client_id,
            client_pk=s.owner_id,
            credential_version=s.credential_version,
            subscriptions=[(f, int(q)) for f, q in s.subscriptions],
            queued=[(t, base64.b64decode(p), int(q)) for t, p, q in s.queued],
            inflight=[
                InFlight(int(i), t, base64.b64decode(p), int(q), bool(r)) for i, t, p, q, r in s.inflight
            ],
        )
        for s in StoredSession.objects.all()
    ]
    owners = {
        pk: (ws, org, username, version)
        for pk, ws, org, username, version in MqttClient.objects.filter(
            pk__in={s.client_pk for s in sessions}, enabled=True
        ).values_list("pk", "workspace_id", "organization_id", "username", "credential_version")
    }
    return Stored(retained, sessions, owners)
