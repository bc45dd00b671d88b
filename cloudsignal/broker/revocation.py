"""Revocation on the broker's side: ending the sessions of credentials that changed.

The database is the truth: a session may live only while its credential's row exists, is enabled and
still has the credential_version the session logged in with. Three paths end in `Revoker.enforce`,
which re-reads the rows and ends what no longer matches:

- a hint from the dashboard or the command line (clients/hints.py sends it, hints.py receives it),
  answered with the number of live sessions ended;
- the re-check of a login that a hint arrived during (broker.py's connection path);
- the periodic reconciliation, which catches hints that were lost (broker down, socket full).
"""

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Iterable
from typing import NamedTuple, Protocol

from clients.models import ConnectionRecord, MqttClient
from cloudsignal.broker.auth import Login, VerifiedCredentials
from cloudsignal.broker.blocking import ThreadPool
from cloudsignal.broker.sessions import SessionRegistry

log = logging.getLogger(__name__)

# SQLite allows 32,766 parameters per statement; stay well below for older builds (999).
_CHUNK = 900


class Credential(NamedTuple):
    enabled: bool
    credential_version: int
    # For the history's "why it ended" only.
    username: str = ""
    workspace_id: int = 0


def still_allowed(login: Login, row: Credential | None) -> bool:
    """May a session that logged in as `login` continue, given the row as it is now?"""
    return row is not None and row.enabled and row.credential_version == login.credential_version


def why_ended(login: Login, row: Credential | None) -> str:
    """The end reason of a session that `row` no longer allows, for its connection history."""
    reasons = ConnectionRecord.EndReason
    if row is None:
        return reasons.DELETED
    if not row.enabled:
        return reasons.DISABLED
    if row.workspace_id != login.workspace_id:
        return reasons.MOVED
    if row.username != login.username:
        return reasons.RENAMED
    return reasons.PASSWORD_RESET


def current_credentials(client_pks: Iterable[int]) -> dict[int, Credential]:
    """The rows as they are now (one query per 900 ids). Blocking."""
    pks = sorted(set(client_pks))
    found: dict[int, Credential] = {}
    for start in range(0, len(pks), _CHUNK):
        rows = MqttClient.objects.filter(pk__in=pks[start : start + _CHUNK]).values_list(
            "pk", "enabled", "credential_version", "username", "workspace_id"
        )
        found.update({row[0]: Credential(*row[1:]) for row in rows})
    return found


class EndSession(Protocol):
    """Close session `key`'s live connection if `owner` holds it (with `purge`, drop its stored
    state too); returns the connections closed. The broker's `end_session`."""

    def __call__(self, key: str, *, purge: bool, owner: Login, reason: str = ...) -> Awaitable[int]: ...


class Revoker:
    # How long a count of sessions ended by reconciliation waits for the hint of the same change.
    EARLY_COUNT_SECONDS = 30.0

    def __init__(
        self,
        registry: SessionRegistry,
        verified: VerifiedCredentials,
        pool: ThreadPool,
        end_session: EndSession,
    ) -> None:
        self.registry = registry
        self.verified = verified
        self.pool = pool
        self.end_session = end_session
        # Counts "credentials-changed" hints; a login re-reads its row only if one came during it.
        self.hints_received = 0
        # client pk -> (row state, sessions ended, when): ended by reconciliation before the hint of
        # that change arrived, so the hint can still report them to the admin.
        self._ended_early: dict[int, tuple[Credential | None, int, float]] = {}

    async def credentials_changed(self, client_pks: Iterable[int]) -> int:
        """The hint: re-read these credentials and end every session they no longer allow. Returns
        how many live connections this change ended."""
        self.hints_received += 1
        pks = set(client_pks)
        # A cached verification must not outlive a change, even one that kicked nobody.
        self.verified.forget(list(pks))
        involved = (
            self.registry.keys_of(pks)
            or any(p.login.client_pk in pks for p in self.registry.pending)
            or pks & self._ended_early.keys()
        )
        if not involved:
            return 0
        current = await self.pool.run(current_credentials, pks)
        ended = sum((await self.enforce(pks, current)).values())
        for pk in pks:
            early = self._ended_early.pop(pk, None)
            if early is not None and early[0] == current.get(pk):
                ended += early[1]
        return ended

    async def reconcile(self) -> int:
        """The safety net: every stored session's credential against the database (one query per
        900 credentials). Ends what the rows no longer allow, remembering it for a hint that may still
        come. Returns connections closed."""
        checked = self.registry.client_pks()
        if not checked:
            return 0
        current = await self.pool.run(current_credentials, checked)
        now = time.monotonic()
        self._ended_early = {
            pk: v for pk, v in self._ended_early.items() if now - v[2] < self.EARLY_COUNT_SECONDS
        }
        # Only the credentials that were read: one that logged in since is not in `current`.
        return sum((await self.enforce(checked, current, remember=True)).values())

    async def enforce(
        self, checked: set[int], current: dict[int, Credential], *, remember: bool = False
    ) -> Counter[int]:
        """End the sessions (and mark the pending logins) of `checked` that `current` disallows.
        Returns live connections closed, per credential: each connection is counted once, by the
        path that ends it, however many paths find it (a hint and reconciliation can run at once).
        With `remember` (reconciliation), each one is also kept for the hint of the same change, as
        soon as it is claimed: a hint arriving while the close is awaited still reports it."""
        ended: Counter[int] = Counter()
        for pending in self.registry.pending:
            pk = pending.login.client_pk
            row = current.get(pk)
            if pk in checked and not pending.revoked and not still_allowed(pending.login, row):
                # Refused before its CONNACK, or closed as soon as it registers.
                pending.revoked = True
                ended[pk] += pending.accepted
                if remember and pending.accepted:
                    self._remember_early(pk, row)
        for key in self.registry.keys_of(checked):
            login = self.registry.owners.get(key)
            if login is None:
                continue
            row = current.get(login.client_pk)
            if not still_allowed(login, row):
                log.info("ending session %s: credential %s changed", key, login.client_pk)
                conn = self.registry.connections.get(key)
                if remember and conn is not None and conn.login == login and not conn.kicked:
                    self._remember_early(login.client_pk, row)
                ended[login.client_pk] += await self.end_session(
                    key, purge=True, owner=login, reason=why_ended(login, row)
                )
        return ended

    def _remember_early(self, pk: int, row: Credential | None) -> None:
        _state, before, _at = self._ended_early.get(pk, (None, 0, 0.0))
        self._ended_early[pk] = (row, before + 1, time.monotonic())

    async def disconnect(self, row_id: int) -> int:
        """The dashboard's plain "Disconnect": close one connection; its stored session stays."""
        conn = self.registry.by_row(row_id)
        if conn is None:
            return 0
        return await self.end_session(conn.key, purge=False, owner=conn.login)
