"""Who may connect: `username@organization_id` and a password, checked against the database.

`Authenticator.check` is the whole decision and runs in a thread (it queries the database and
verifies argon2id). Every refusal for a bad credential costs about one argon2 verification, whatever
the reason (anonymous, malformed, unknown, disabled, wrong password), so response time does not tell
which usernames exist. A database error refuses with "server unavailable" instead.

A disabled client presenting its correct password is the one exception: it gets "not authorized"
(CONNACK 5), so its owner can tell "disabled" from "wrong password". Only the password's holder learns
it, and only after the same argon2 work as any other refusal.
"""

import hashlib
import hmac
import logging
import secrets
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from django import db

from clients import credentials
from clients.models import MqttClient

log = logging.getLogger(__name__)

# CONNACK return codes of MQTT 3.1.1.
IDENTIFIER_REJECTED = 2
SERVER_UNAVAILABLE = 3
BAD_USERNAME_OR_PASSWORD = 4
NOT_AUTHORIZED = 5


@dataclass(frozen=True)
class Login:
    """A verified credential, as it was when the session logged in."""

    client_pk: int
    credential_version: int
    workspace_id: int
    organization_id: uuid.UUID
    # The username without `@organization_id`, as ACL rules see it.
    username: str
    # The workspace's setting at login: its client ids are bound to their credential.
    bind_client_ids: bool = True


UNKNOWN_CLIENT = "unknown client"


@dataclass(frozen=True)
class Refusal:
    code: int
    # For the log only: the device gets the same answer for every bad credential.
    reason: str
    # The credential it was for, when one was found (for its connection history).
    client_pk: int | None = None


def split_username(raw: str | None) -> tuple[str, uuid.UUID] | None:
    """`name@organization_id` split at the last `@`, or None when it is not of that form."""
    if not raw or "@" not in raw:
        return None
    name, _, org = raw.rpartition("@")
    if not name:
        return None
    try:
        organization_id = uuid.UUID(org)
    except ValueError:
        return None
    return name, organization_id


class VerifiedCredentials:
    """Passwords that verified recently, so a reconnect skips argon2.

    Keyed by client pk; an entry only matches the exact credential_version and password hash it was
    verified against, so a revoking change (which bumps the version) can never be bypassed by a stale
    entry. Passwords are kept as HMACs under a key that exists only in this process's memory.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[int, tuple[int, str, bytes]] = OrderedDict()
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def _digest(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode(), hashlib.sha256).digest()

    def matches(self, client: MqttClient, password: str) -> bool:
        with self._lock:
            entry = self._entries.get(client.pk)
        if entry is None:
            return False
        version, password_hash, digest = entry
        return (
            version == client.credential_version
            and password_hash == client.password_hash
            and hmac.compare_digest(digest, self._digest(password))
        )

    def remember(self, client: MqttClient, password: str) -> None:
        entry = (client.credential_version, client.password_hash, self._digest(password))
        with self._lock:
            self._entries[client.pk] = entry
            self._entries.move_to_end(client.pk)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def forget(self, client_pks: list[int]) -> None:
        with self._lock:
            for pk in client_pks:
                self._entries.pop(pk, None)

    def __len__(self) -> int:
        return len(self._entries)


class Authenticator:
    def __init__(self) -> None:
        self.verified = VerifiedCredentials()

    def check(self, username: str | None, password: str | None) -> Login | Refusal:
        """Decide a login. Blocking: call it from a thread."""
        parsed = split_username(username)
        if parsed is None or password is None:
            credentials.burn_verify_time(password or "")
            reason = "anonymous" if not username else "malformed username or no password"
            return Refusal(BAD_USERNAME_OR_PASSWORD, reason)
        name, organization_id = parsed
        try:
            return self._check_client(name, organization_id, password)
        except db.Error as exc:
            log.warning("login refused, database unavailable: %s", exc)
            return Refusal(SERVER_UNAVAILABLE, "database unavailable")

    def _check_client(self, name: str, organization_id: uuid.UUID, password: str) -> Login | Refusal:
        client = (
            MqttClient.objects.by_username(organization_id, name)
            .only(
                "pk",
                "username",
                "password_hash",
                "enabled",
                "credential_version",
                "workspace_id",
                "organization_id",
                "workspace__bind_client_ids",
            )
            .select_related("workspace")
            .first()
        )
        if client is None:
            credentials.burn_verify_time(password)
            return Refusal(BAD_USERNAME_OR_PASSWORD, UNKNOWN_CLIENT)
        if self.verified.matches(client, password):
            verified = True
        else:
            # A disabled client is verified too, so it costs what any other refusal costs.
            verified = client.check_password(password)
            if verified and client.enabled:
                self._upgrade_hash(client, password)
                self.verified.remember(client, password)
        if not verified:
            return Refusal(BAD_USERNAME_OR_PASSWORD, "wrong password", client.pk)
        if not client.enabled:
            return Refusal(NOT_AUTHORIZED, "client disabled", client.pk)
        return Login(
            client_pk=client.pk,
            credential_version=client.credential_version,
            workspace_id=client.workspace_id,
            organization_id=client.organization_id,
            username=client.username,
            bind_client_ids=client.workspace.bind_client_ids,
        )

    def _upgrade_hash(self, client: MqttClient, password: str) -> None:
        """Re-hash with today's argon2 parameters. Same password, so no session is revoked."""
        if not credentials.needs_rehash(client.password_hash):
            return
        new_hash = credentials.hash_password(password)
        # Only if nobody changed the password meanwhile.
        updated = MqttClient.objects.filter(pk=client.pk, password_hash=client.password_hash).update(
            password_hash=new_hash
        )
        if updated:
            client.password_hash = new_hash
