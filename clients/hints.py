"""Sending hints: the embedded engine's channel (clients/embedded.py) from the dashboard and the
command line to the broker ("these credentials changed"). The broker's receiving end is
cloudsignal/broker/hints.py.

The database is the truth and this is only a hint. After a change commits we send the changed
client ids over a unix socket in the data dir; the broker re-reads those rows and ends sessions whose
row is gone, disabled or of another credential_version, and answers how many it ended. A hint lost
(broker down, restarting, socket full) is caught by the broker's periodic reconciliation, so the
sender never waits more than a moment and never fails the admin's change.
"""

import json
import logging
import socket
import uuid
from collections.abc import Mapping
from typing import Any

from django import db
from django.conf import settings

from clients.engine import SessionsEnded, Throttled
from clients.models import BrokerNode

log = logging.getLogger(__name__)

REPLY_TIMEOUT_SECONDS = 2.0


def disconnect_session(live_session_id: int) -> SessionsEnded:
    """Ask the broker to drop one live session now (a plain kick: the device may reconnect)."""
    outcome = SessionsEnded()
    send({"op": "disconnect-session", "session": int(live_session_id)}, outcome)
    return outcome


def throttled(organization_id: uuid.UUID, username: str | None = None) -> list[Throttled] | None:
    """What the broker throttles now for this organization (one username's records, if given), or None
    when the broker cannot be reached.

    Throttling state lives only in the broker's memory: it changes on every failed login, and writing
    it to the database would turn a guessing storm into a storm of database writes, the very load
    throttling exists to shed. So the dashboard asks the broker over this channel instead.
    """
    answer = ask({"op": "throttles", "organization": str(organization_id), "username": username})
    if answer is None or "throttles" not in answer:
        return None
    return [Throttled(**entry) for entry in answer["throttles"]]


def clear_throttle(
    organization_id: uuid.UUID, *, username: str | None = None, address: str | None = None
) -> int | None:
    """Lift the throttle on a username (from every address, or one) or an address; returns how many
    records went, or None when the broker cannot be reached."""
    message = {
        "op": "clear-throttle",
        "organization": str(organization_id),
        "username": username,
        "address": address,
    }
    answer = ask(message)
    return None if answer is None else int(answer.get("cleared", 0))


def ask(message: Mapping[str, object], path: str | None = None) -> dict[str, Any] | None:
    """Send one request to the broker (at `path`, else the configured socket) and return its answer,
    or None if it cannot be reached."""
    path = path or str(settings.BROKER_CONTROL_SOCKET)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(REPLY_TIMEOUT_SECONDS)
            sock.connect(path)
            sock.sendall(json.dumps(message).encode() + b"\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        answer = json.loads(reply or b"{}")
    except (OSError, ValueError) as exc:
        log.info("broker not reached for %s (%s)", message["op"], exc)
        return None
    return answer if isinstance(answer, dict) else None


def send(message: dict[str, object], outcome: SessionsEnded, *, every_broker: bool = False) -> None:
    """Send a hint and fill in `outcome` with the answers: to the configured broker, or to every
    running one, each answer awaited before this returns."""
    paths = broker_sockets() if every_broker else [str(settings.BROKER_CONTROL_SOCKET)]
    outcome.sent = True
    for path in paths:
        answer = ask(message, path)
        # Unreachable is not an error for the admin: the change is committed and reconciliation
        # applies it.
        if answer is not None:
            outcome.count = (outcome.count or 0) + int(answer.get("ended", 0))
            outcome.broker_reachable = True


def broker_sockets() -> list[str]:
    """The configured broker's control socket, then those of the other running brokers (each
    registers its own in its BrokerNode row). Changes go to every one: a broker answers warm logins
    from memory, so one that was not told could let a revoked credential in until it reconciles."""
    configured = str(settings.BROKER_CONTROL_SOCKET)
    try:
        others = list(BrokerNode.objects.running().values_list("control_socket", flat=True))
    except db.Error as exc:
        log.warning("running brokers not listed (%s); telling the configured one only", exc)
        others = []
    return [configured, *sorted({p for p in others if p and p != configured})]
