"""Which credential holds which session, and ending the sessions of credentials that changed.

The database is the truth: a session may live only while its credential's row exists, is enabled and
still has the credential_version the session logged in with. Hints from the dashboard
("credentials-changed"), the check right after each login and the periodic reconciliation all end
in `Revoker.enforce`, which re-reads the rows and ends what no longer matches.
"""

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from django.utils import timezone

from clients.models import MqttClient
from cloudsignal.broker.auth import Login

if TYPE_CHECKING:
    from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
    from amqtt.session import Session

    from cloudsignal.broker.broker import CloudSignalBroker

log = logging.getLogger(__name__)

# SQLite allows 32,766 parameters per statement; stay well below for older builds (999).
_CHUNK = 900


@dataclass(eq=False)
class LiveConnection:
    """One open MQTT connection that logged in."""

    key: str  # the broker's session id (namespace.session_key)
    device_client_id: str
    login: Login
    listener: str
    remote_address: str
    session: "Session"
    handler: "BrokerProtocolHandler"
    connected_since: datetime = field(default_factory=timezone.now)
    # Set when the connection's task has finished with it.
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    # The LiveSession row's pk, once presence has written it.
    row_id: int | None = None
    # Closed by the broker (revoked or disconnected by an admin), not by the device.
    kicked: bool = False


@dataclass(eq=False)
class PendingLogin:
    """A login verified but not yet registered: a revocation arriving now marks it."""

    login: Login
    revoked: bool = False
    # Past its last database check: it will get CONNACK 0 (so a revocation counts it as ended).
    accepted: bool = False


class SessionRegistry:
    """Live connections, and the credential that owns every stored session (connected or not).

    Offline persistent sessions matter too: a revoked credential's subscriptions and queued messages
    must go even when its device is not connected.
    """

    def __init__(self) -> None:
        self.connections: dict[str, LiveConnection] = {}
        self.owners: dict[str, Login] = {}
        self.pending: list[PendingLogin] = []

    def begin_login(self, login: Login) -> PendingLogin:
        pending = PendingLogin(login)
        self.pending.append(pending)
        return pending

    def end_login(self, pending: PendingLogin) -> None:
        self.pending.remove(pending)

    def add(self, conn: LiveConnection) -> None:
        self.connections[conn.key] = conn
        self.owners[conn.key] = conn.login

    def remove(self, conn: LiveConnection) -> None:
        if self.connections.get(conn.key) is conn:
            del self.connections[conn.key]

    def keys_of(self, client_pks: set[int]) -> list[str]:
        return [key for key, login in self.owners.items() if login.client_pk in client_pks]

    def client_pks(self) -> set[int]:
        return {login.client_pk for login in self.owners.values()}

    def by_row(self, row_id: int) -> LiveConnection | None:
        return next((c for c in self.connections.values() if c.row_id == row_id), None)


class Credential(NamedTuple):
    enabled: bool
    credential_version: int


def still_allowed(login: Login, row: Credential | None) -> bool:
    """May a session that logged in as `login` continue, given the row as it is now?"""
    return row is not None and row.enabled and row.credential_version == login.credential_version


def current_credentials(client_pks: Iterable[int]) -> dict[int, Credential]:
    """The rows as they are now (one query per 900 ids). Blocking."""
    pks = sorted(set(client_pks))
    found: dict[int, Credential] = {}
    for start in range(0, len(pks), _CHUNK):
        rows = MqttClient.objects.filter(pk__in=pks[start : start + _CHUNK]).values_list(
            "pk", "enabled", "credential_version"
        )
        found.update({pk: Credential(enabled, version) for pk, enabled, version in rows})
    return found


class Revoker:
    # How long a count of sessions ended by reconciliation waits for the hint of the same change.
    EARLY_COUNT_SECONDS = 30.0

    def __init__(self, broker: "CloudSignalBroker") -> None:
        self.broker = broker
        # Counts "credentials-changed" hints; a login re-reads its row only if one came during it.
        self.hints_received = 0
        # client pk -> (row state, sessions ended, when): ended by reconciliation before the hint of
        # that change arrived, so the hint can still report them to the admin.
        self._ended_early: dict[int, tuple[Credential | None, int, float]] = {}

    async def credentials_changed(self, client_pks: Iterable[int]) -> int:
        """Re-read these credentials and end every session they no longer allow. Returns how many
        live connections this change ended."""
        self.hints_received += 1
        pks = set(client_pks)
        # A cached verification must not outlive a change, even one that kicked nobody.
        self.broker.authenticator.verified.forget(list(pks))
        registry = self.broker.registry
        involved = (
            registry.keys_of(pks)
            or any(p.login.client_pk in pks for p in registry.pending)
            or pks & self._ended_early.keys()
        )
        if not involved:
            return 0
        current = await self.broker.control_pool.run(current_credentials, pks)
        ended = sum((await self.enforce(pks, current)).values())
        for pk in pks:
            early = self._ended_early.pop(pk, None)
            if early is not None and early[0] == current.get(pk):
                ended += early[1]
        return ended

    async def reconcile(self, checked: set[int], current: dict[int, Credential]) -> int:
        """End what the rows no longer allow, remembering it for a hint that may still come."""
        now = time.monotonic()
        self._ended_early = {
            pk: v for pk, v in self._ended_early.items() if now - v[2] < self.EARLY_COUNT_SECONDS
        }
        # Only the credentials that were read: one that logged in since is not in `current`.
        ended = await self.enforce(checked, current)
        for pk, count in ended.items():
            _state, before, _at = self._ended_early.get(pk, (None, 0, now))
            self._ended_early[pk] = (current.get(pk), before + count, now)
        return sum(ended.values())

    async def enforce(self, checked: set[int], current: dict[int, Credential]) -> Counter[int]:
        """End the sessions (and mark the pending logins) of `checked` that `current` disallows.
        Returns live connections closed, per credential."""
        ended: Counter[int] = Counter()
        for pending in self.broker.registry.pending:
            pk = pending.login.client_pk
            if pk in checked and not still_allowed(pending.login, current.get(pk)):
                # Refused before its CONNACK, or closed as soon as it registers.
                pending.revoked = True
                ended[pk] += pending.accepted
        for key in self.broker.registry.keys_of(checked):
            login = self.broker.registry.owners.get(key)
            if login is None:
                continue
            if not still_allowed(login, current.get(login.client_pk)):
                log.info("ending session %s: credential %s changed", key, login.client_pk)
                ended[login.client_pk] += await self.broker.end_session(key, purge=True, owner=login)
        return ended

    async def disconnect(self, row_id: int) -> int:
        """The dashboard's plain "Disconnect": close one connection; its stored session stays."""
        conn = self.broker.registry.by_row(row_id)
        if conn is None:
            return 0
        return await self.broker.end_session(conn.key, purge=False, owner=conn.login)
