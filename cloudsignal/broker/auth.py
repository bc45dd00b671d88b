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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django import db

from clients import credentials
from clients.models import MqttClient

log = logging.getLogger(__name__)

# CONNACK return codes of MQTT 3.1.1.
IDENTIFIER_REJECTED = 2
SERVER_UNAVAILABLE = 3
BAD_USERNAME_OR_PASSWORD = 4
NOT_AUTHORIZED = 5

# SQLite allows 32,766 parameters per statement; stay well below for older builds (999).
_CHUNK = 900


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


@dataclass(frozen=True)
class _Verified:
    credential_version: int
    password_hash: str
    digest: bytes
    # What the login was, for a warm login that needs no database (None: verified, not yet served).
    login: "Login | None"


class VerifiedCredentials:
    """Logins that verified recently, so a reconnect needs neither argon2 nor the database.

    Keyed by client pk, and found by `name@organization`; an entry only matches the exact
    credential_version and password hash it was verified against, and is forgotten by the revocation
    hint of any change to its credential (which arrives before the admin's request returns, at every
    broker: clients/hints.py), and by the periodic reconciliation if a hint was lost (`stale`).
    Passwords are kept as HMACs under a key that exists only in this process's memory.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[int, _Verified] = OrderedDict()
        self._by_name: dict[tuple[uuid.UUID, str], int] = {}
        self._max_entries = max_entries
        self._lock = threading.Lock()
        # Bumped by every `forget`: a verification that began before it is not remembered, since it
        # may have read the row as it was before the change that was forgotten.
        self.generation = 0
        # Warm logins served from memory (for tests and the benchmark).
        self.served = 0

    def _digest(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode(), hashlib.sha256).digest()

    def login_for(self, organization_id: uuid.UUID, name: str, password: str) -> Login | None:
        """The login this password verified as, from memory: no database, no argon2. None when it is
        not known (or the password differs): the caller takes the full path."""
        with self._lock:
            pk = self._by_name.get((organization_id, name.lower()))
            entry = self._entries.get(pk) if pk is not None else None
        if entry is None or entry.login is None:
            return None
        if not hmac.compare_digest(entry.digest, self._digest(password)):
            return None
        self.served += 1
        return entry.login

    def matches(self, client: MqttClient, password: str) -> bool:
        with self._lock:
            entry = self._entries.get(client.pk)
        if entry is None:
            return False
        return (
            entry.credential_version == client.credential_version
            and entry.password_hash == client.password_hash
            and hmac.compare_digest(entry.digest, self._digest(password))
        )

    def remember(
        self, client: MqttClient, password: str, login: Login | None = None, *, since: int | None = None
    ) -> None:
        """Remember a verification; with `since` (the generation read before the row was), only if
        nothing was forgotten meanwhile."""
        entry = _Verified(client.credential_version, client.password_hash, self._digest(password), login)
        with self._lock:
            if since is not None and since != self.generation:
                return
            old = self._entries.get(client.pk)
            if old is not None and old.login is not None:
                self._by_name.pop((old.login.organization_id, old.login.username.lower()), None)
            self._entries[client.pk] = entry
            self._entries.move_to_end(client.pk)
            if login is not None:
                self._by_name[(login.organization_id, login.username.lower())] = client.pk
            while len(self._entries) > self._max_entries:
                self._drop(next(iter(self._entries)))

    def forget(self, client_pks: Iterable[int]) -> None:
        pks = list(client_pks)
        if not pks:
            return
        with self._lock:
            self.generation += 1
            for pk in pks:
                self._drop(pk)

    def _drop(self, pk: int) -> None:
        entry = self._entries.pop(pk, None)
        if entry is not None and entry.login is not None:
            key = (entry.login.organization_id, entry.login.username.lower())
            if self._by_name.get(key) == pk:
                del self._by_name[key]

    def client_pks(self) -> list[int]:
        with self._lock:
            return list(self._entries)

    def stale(self) -> list[int]:
        """The remembered credentials whose rows no longer match what was verified (gone, disabled,
        reset, renamed, moved, or their workspace's client-id binding changed): the safety net under
        the hints, run by the periodic reconciliation. Blocking: queries the database."""
        pks = self.client_pks()
        rows: dict[int, tuple[Any, ...]] = {}
        for start in range(0, len(pks), _CHUNK):
            rows.update(
                (row[0], row[1:])
                for row in MqttClient.objects.filter(pk__in=pks[start : start + _CHUNK]).values_list(
                    "pk",
                    "enabled",
                    "credential_version",
                    "password_hash",
                    "username",
                    "workspace_id",
                    "workspace__bind_client_ids",
                )
            )
        with self._lock:
            entries = {pk: self._entries.get(pk) for pk in pks}
        return [pk for pk, entry in entries.items() if entry is not None and not _still(entry, rows.get(pk))]

    def __len__(self) -> int:
        return len(self._entries)


def _still(entry: _Verified, row: tuple[Any, ...] | None) -> bool:
    if row is None:
        return False
    enabled, version, password_hash, username, workspace_id, bind_client_ids = row
    login = entry.login
    return (
        enabled
        and version == entry.credential_version
        and password_hash == entry.password_hash
        and (
            login is None
            or (
                login.username == username
                and login.workspace_id == workspace_id
                and login.bind_client_ids == bind_client_ids
            )
        )
    )


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
            return self._check_client(name, organization_id, password, self.verified.generation)
        except db.Error as exc:
            log.warning("login refused, database unavailable: %s", exc)
            return Refusal(SERVER_UNAVAILABLE, "database unavailable")

    def _check_client(
        self, name: str, organization_id: uuid.UUID, password: str, generation: int
    ) -> Login | Refusal:
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
        # A disabled client is verified too, so it costs what any other refusal costs.
        verified = self.verified.matches(client, password) or client.check_password(password)
        if not verified:
            return Refusal(BAD_USERNAME_OR_PASSWORD, "wrong password", client.pk)
        if not client.enabled:
            return Refusal(NOT_AUTHORIZED, "client disabled", client.pk)
        self._upgrade_hash(client, password)
        login = Login(
            client_pk=client.pk,
            credential_version=client.credential_version,
            workspace_id=client.workspace_id,
            organization_id=client.organization_id,
            username=client.username,
            bind_client_ids=client.workspace.bind_client_ids,
        )
        self.verified.remember(client, password, login, since=generation)
        return login

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
