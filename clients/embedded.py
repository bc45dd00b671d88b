"""The embedded engine: our own broker (cloudsignal/broker), reached through the hint socket
(clients/hints.py) and the LiveSession rows its presence keeps."""

import uuid
from collections.abc import Sequence

from acl.language import RuleSpec
from clients import hints
from clients.engine import Credential, Session, SessionsEnded, Throttled
from clients.models import LiveSession, MqttClient
from workspaces.models import Organization


class EmbeddedEngine:
    def end_sessions(self, credentials: Sequence[Credential], outcome: SessionsEnded) -> None:
        # To every running broker: each answers warm logins from memory, so one left untold could let
        # a revoked credential in until it reconciles.
        ids = sorted({c.client_id for c in credentials})
        hints.send({"op": "credentials-changed", "ids": ids}, outcome, every_broker=True)

    def rules_changed(self, workspace_ids: Sequence[int], who: Sequence[str]) -> None:
        # The broker reloads the rules and checks every later publish and delivery with them.
        hints.send(
            {"op": "rules-changed", "workspaces": list(workspace_ids)}, SessionsEnded(), every_broker=True
        )

    def live_sessions(self, organization: Organization, client: MqttClient | None = None) -> list[Session]:
        rows = LiveSession.objects.alive().in_org(organization).select_related("client", "client__workspace")
        if client is not None:
            rows = rows.filter(client=client)
        return [as_session(row) for row in rows.order_by("-connected_since", "-pk")]

    def count_by_client(self, clients: Sequence[MqttClient]) -> dict[int, int]:
        return LiveSession.objects.alive().count_by_client(clients)

    def disconnect(self, session: Session) -> SessionsEnded:
        return hints.disconnect_session(session.pk)

    def throttled(self, organization_id: uuid.UUID, username: str | None) -> list[Throttled] | None:
        return hints.throttled(organization_id, username)

    def clear_throttle(
        self, organization_id: uuid.UUID, *, username: str | None, address: str | None
    ) -> int | None:
        return hints.clear_throttle(organization_id, username=username, address=address)

    def device_username(self, client: MqttClient) -> str:
        return client.full_username

    def rule_problems(self, spec: RuleSpec) -> dict[str, str]:
        return {}


def as_session(row: LiveSession) -> Session:
    return Session(
        pk=row.pk,
        client=row.client,
        mqtt_client_id=row.mqtt_client_id,
        remote_address=row.remote_address,
        listener=row.listener,
        connected_since=row.connected_since,
    )
