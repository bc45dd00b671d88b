"""The broker behind the dashboard, the API and the command line: one interface, two engines.

`CLOUDSIGNAL_BROKER` chooses the engine: `embedded` (our own broker, clients/embedded.py) or
`rabbitmq` (a RabbitMQ cluster asking CloudSignal who may log in, cloudsignal/rabbitmq/engine.py).
Everything above talks to `current()` and never knows which one runs. The engine is named by a
dotted path in settings.BROKER_ENGINE, so this app never imports the project's RabbitMQ code.

The database stays the truth for both: an engine only ends sessions that a committed change no
longer allows, and reports how many.
"""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from acl.language import RuleSpec
from workspaces import audit

if TYPE_CHECKING:
    from clients.models import MqttClient
    from workspaces.models import Organization


@dataclass
class SessionsEnded:
    """How many live sessions the broker ended for a change; None until answered or if unreachable."""

    count: int | None = None
    broker_reachable: bool = False
    sent: bool = field(default=False, repr=False)

    @classmethod
    def total(cls, parts: Iterable["SessionsEnded"]) -> "SessionsEnded":
        """What several changes ended together (a bulk action), as one outcome."""
        sent = [p for p in parts if p.sent]
        reachable = bool(sent) and all(p.broker_reachable for p in sent)
        count = sum(p.count or 0 for p in sent) if reachable else None
        return cls(count=count, broker_reachable=reachable, sent=bool(sent))

    def describe(self) -> str:
        if not self.sent:
            return ""
        if not self.broker_reachable:
            return "The broker is not running; its sessions are checked against this change when it starts."
        if self.count == 1:
            return "1 live session was disconnected."
        return f"{self.count} live sessions were disconnected."


@dataclass(frozen=True, order=True)
class Credential:
    """A credential as live sessions logged in with it: enough to find those sessions after its row
    changed or went (a rename or a move changes what the broker knows it by)."""

    client_id: int
    organization_id: uuid.UUID
    workspace_id: int
    username: str

    @property
    def full_username(self) -> str:
        return f"{self.username}@{self.organization_id}"


@dataclass
class Session:
    """One live MQTT session, as the Sessions page and the API show it."""

    # Unique among the engine's live sessions; what "Disconnect" names.
    pk: int
    client: "MqttClient"
    mqtt_client_id: str
    remote_address: str
    listener: str
    connected_since: datetime
    # The engine's own name for the connection (RabbitMQ's connection name); "" for the embedded one.
    name: str = ""

    @property
    def client_id(self) -> int:
        return self.client.pk

    def get_listener_display(self) -> str:
        return LISTENER_NAMES.get(self.listener, self.listener)


LISTENER_NAMES = {"mqtt": "MQTT", "mqtts": "MQTT over TLS", "ws": "WebSocket"}


@dataclass(frozen=True)
class Throttled:
    """A username (from one address) or an address that the broker refuses logins from for now."""

    username: str | None  # None: the address, whatever the username
    address: str
    failures: int
    seconds_left: float


class Engine(Protocol):
    """What the dashboard needs from a broker. The end_* methods run after the change committed."""

    def end_sessions(self, credentials: Sequence[Credential], outcome: SessionsEnded) -> None:
        """End every live session of these credentials; fill in `outcome` (sent, count, reachable)."""

    def rules_changed(self, workspace_ids: Sequence[int], who: Sequence[str]) -> None:
        """The ACL rules of these workspaces changed for the clients that `who` (rule client
        patterns: a username, `prefix*` or `*`) names."""

    def live_sessions(
        self, organization: "Organization", client: "MqttClient | None" = None
    ) -> list[Session]:
        """The organization's live sessions (one client's, if given), newest first."""

    def count_by_client(self, clients: Sequence["MqttClient"]) -> dict[int, int]:
        """Live sessions per client pk (clients with none left out)."""

    def disconnect(self, session: Session) -> SessionsEnded:
        """Drop one session now (a plain kick: the device may reconnect)."""

    def throttled(self, organization_id: uuid.UUID, username: str | None) -> list[Throttled] | None:
        """What the broker refuses logins from for now; None when it cannot be asked."""

    def clear_throttle(
        self, organization_id: uuid.UUID, *, username: str | None, address: str | None
    ) -> int | None:
        """Lift a throttle; how many records went, or None when the broker cannot be asked."""

    def device_username(self, client: "MqttClient") -> str:
        """The username a device sends in CONNECT for this credential."""

    def rule_problems(self, spec: RuleSpec) -> dict[str, str]:
        """What this engine cannot enforce in a rule the ACL language accepts, by field."""


_engines: dict[str, Engine] = {}


def current() -> Engine:
    """The engine settings.BROKER_ENGINE names (one instance per engine, kept for the process)."""
    path = settings.BROKER_ENGINE
    if path not in _engines:
        _engines[path] = import_string(path)()
    return _engines[path]


def credentials_changed(credentials: Iterable[Credential]) -> SessionsEnded:
    """Once the current transaction commits, end the live sessions of these credentials (as they
    were before the change); the returned outcome fills in when the engine answers."""
    outcome = SessionsEnded()
    unique = sorted(set(credentials))
    if unique:
        transaction.on_commit(lambda: current().end_sessions(unique, outcome))
    return outcome


def rules_changed(workspace_ids: Iterable[int], who: Iterable[str] = ("*",)) -> None:
    """Once the current transaction commits, tell the engine these workspaces' rules changed for the
    clients `who` names (rule client patterns)."""
    ids = sorted({int(i) for i in workspace_ids})
    patterns = sorted(set(who))
    if ids:
        transaction.on_commit(lambda: current().rules_changed(ids, patterns))


def disconnect(session: Session) -> SessionsEnded:
    """An admin's "Disconnect": the engine drops this connection now (a plain kick: the device may
    reconnect). Nothing in the database changes, so the audit entry stands on its own."""
    audit.record(
        session.client.organization_id,
        "session.disconnected",
        target_type="session",
        target_id=str(session.pk),
        target_name=session.mqtt_client_id,
        details={"client": session.client.username, "remote_address": session.remote_address},
    )
    return current().disconnect(session)
