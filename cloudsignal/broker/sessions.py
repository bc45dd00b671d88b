"""The broker's core state: which connections are live, and which credential owns every stored session.

revocation.py reads this registry to find the sessions a change ends; presence.py mirrors its live
connections to the dashboard; broker.py adds and removes entries as devices connect and go.
"""

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.utils import timezone

from cloudsignal.broker.auth import Login

if TYPE_CHECKING:
    from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
    from amqtt.session import Session

    from cloudsignal.broker.packets import MeteredReader, MeteredWriter


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
    # For the connection history: what it sent and received, and why the broker ended it (empty: the
    # device did, or its socket went).
    meter_in: "MeteredReader | None" = None
    meter_out: "MeteredWriter | None" = None
    end_reason: str = ""
    end_detail: str = ""


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
