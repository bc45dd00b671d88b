"""clients.engine's interface over a RabbitMQ cluster.

Tenancy: one vhost per workspace, `ws-<workspace id>`, and devices log in as
`ws-<workspace id>:<username>@<organization id>` (RabbitMQ picks the vhost from the prefix before it
asks who the user is). RabbitMQ knows a credential by `<username>@<organization id>`, which is what
its connection tracking closes sessions by.
"""

import hashlib
import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from acl.language import RuleSpec
from clients.engine import Credential, Session, SessionsEnded, Throttled
from clients.models import MqttClient
from cloudsignal.rabbitmq.management import Management, Unreachable
from workspaces.models import Organization

log = logging.getLogger(__name__)

VHOST_PREFIX = "ws-"


def vhost_of(workspace_id: int) -> str:
    return f"{VHOST_PREFIX}{workspace_id}"


def workspace_of_vhost(vhost: str) -> int | None:
    number = vhost.removeprefix(VHOST_PREFIX)
    return int(number) if vhost.startswith(VHOST_PREFIX) and number.isdigit() else None


def management() -> Management:
    return Management(settings.RABBITMQ_MANAGEMENT_URLS, settings.RABBITMQ_USER, settings.RABBITMQ_PASSWORD)


def session_pk(connection_name: str) -> int:
    """A stable number for a RabbitMQ connection name, so the dashboard's URLs stay numeric."""
    return int.from_bytes(hashlib.sha256(connection_name.encode()).digest()[:6], "big")


def applies(pattern: str, username: str) -> bool:
    """Whether an ACL rule's client pattern (`*`, `prefix*` or a username) names this username."""
    who, name = pattern.lower(), username.lower()
    if who.endswith("*"):
        return name.startswith(who[:-1])
    return name == who


class RabbitEngine:
    def end_sessions(self, credentials: Sequence[Credential], outcome: SessionsEnded) -> None:
        outcome.sent = True
        try:
            outcome.count = self._close({c.full_username for c in credentials})
            outcome.broker_reachable = True
        except Unreachable as exc:
            # The change is committed: with no node up there is no session left to end.
            log.warning("sessions not ended: %s", exc)

    def rules_changed(self, workspace_ids: Sequence[int], who: Sequence[str]) -> None:
        # RabbitMQ caches topic decisions per connection: the sessions a change may affect start over.
        clients = MqttClient.objects.filter(workspace_id__in=workspace_ids).only(
            "username", "organization_id"
        )
        usernames = {c.full_username for c in clients if any(applies(p, c.username) for p in who)}
        try:
            self._close(usernames)
        except Unreachable as exc:
            log.warning("sessions not ended after a rule change: %s", exc)

    def _close(self, usernames: Iterable[str]) -> int:
        api = management()
        return sum(api.close_user(name) for name in sorted(usernames))

    def live_sessions(self, organization: Organization, client: MqttClient | None = None) -> list[Session]:
        suffix = f"@{organization.pk}"
        connections = [c for c in self._connections() if str(c.get("user", "")).endswith(suffix)]
        names = {str(c["user"]).removesuffix(suffix) for c in connections}
        known = MqttClient.objects.in_org(organization).filter(username__in=names).select_related("workspace")
        by_name = {c.username: c for c in known if client is None or c.pk == client.pk}
        sessions = [
            as_session(c, by_name[name])
            for c in connections
            if (name := str(c["user"]).removesuffix(suffix)) in by_name
            and workspace_of_vhost(str(c.get("vhost", ""))) == by_name[name].workspace_id
        ]
        return sorted(sessions, key=lambda s: s.connected_since, reverse=True)

    def count_by_client(self, clients: Sequence[MqttClient]) -> dict[int, int]:
        wanted = {c.full_username: c.pk for c in clients}
        counts: dict[int, int] = {}
        for connection in self._connections():
            if (pk := wanted.get(str(connection.get("user", "")))) is not None:
                counts[pk] = counts.get(pk, 0) + 1
        return counts

    def _connections(self) -> list[dict[str, Any]]:
        try:
            return management().connections()
        except Unreachable:
            return []

    def disconnect(self, session: Session) -> SessionsEnded:
        outcome = SessionsEnded(sent=True)
        try:
            outcome.count = 1 if management().close_connection(session.name) else 0
            outcome.broker_reachable = True
        except Unreachable as exc:
            log.warning("session not disconnected: %s", exc)
        return outcome

    # CloudSignal does not throttle RabbitMQ logins: there is nothing to list or clear.
    def throttled(self, organization_id: uuid.UUID, username: str | None) -> list[Throttled] | None:
        return []

    def clear_throttle(
        self, organization_id: uuid.UUID, *, username: str | None, address: str | None
    ) -> int | None:
        return 0

    def device_username(self, client: MqttClient) -> str:
        return f"{vhost_of(client.workspace_id)}:{client.full_username}"

    def rule_problems(self, spec: RuleSpec) -> dict[str, str]:
        if "." in spec.topic:
            return {
                "topic": "RabbitMQ reads a dot in a topic as a level separator (a.b is a/b), so a rule "
                "cannot name one: use / between levels."
            }
        return {}


def as_session(connection: dict[str, Any], client: MqttClient) -> Session:
    properties = connection.get("client_properties") or {}
    since = connection.get("connected_at")
    return Session(
        pk=session_pk(str(connection["name"])),
        client=client,
        mqtt_client_id=str(properties.get("client_id", "")),
        remote_address=f"{connection.get('peer_host', '')}:{connection.get('peer_port', '')}",
        listener="mqtts" if connection.get("ssl") else "mqtt",
        connected_since=datetime.fromtimestamp(since / 1000, UTC) if since else datetime.now(UTC),
        name=str(connection["name"]),
    )
