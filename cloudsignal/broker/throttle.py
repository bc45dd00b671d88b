"""Throttling password guessing: failed logins per username and source address, with growing back-off.

Two kinds of record, both per organization (the part after `@`), so one organization's admin sees and
clears only what concerns its own usernames:

- a username from an address: after `FREE_FAILURES` failures in a row, each further failure doubles
  the back-off (1 s, 2 s, 4 s ... up to `MAX_BACKOFF`). While it lasts, that username is refused from
  that address before any argon2 work, even with the right password. A success clears the record.
- an address, whatever the usernames: a leaky bucket that drains one failure every `LEAK_SECONDS`;
  past `ADDRESS_BURST` it blocks the address for the organization, again with a growing back-off. A
  guesser spraying usernames trips it within a second. One misconfigured device behind a NAT address
  fails at most once per back-off of its own record, far slower than the bucket drains, so the fleet
  behind that address keeps logging in.

Attempts refused while blocked are not failures (nothing was checked), so a device retrying in a loop
does not lengthen its own back-off. State lives in this process only and is bounded: the least
recently failed records go first past `MAX_RECORDS`, and records go once their back-off has expired
and they have been quiet for `FORGET_AFTER`. Pure logic, no I/O: the broker calls it on its loop.
"""

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

FREE_FAILURES = 5
BASE_BACKOFF = 1.0
MAX_BACKOFF = 15 * 60.0
ADDRESS_BURST = 30
LEAK_SECONDS = 6.0
FORGET_AFTER = 60 * 60.0
MAX_RECORDS = 50_000
# Usernames longer than any valid one are kept only this long (a 65,000-character "username" must not
# become a 65,000-character key).
USERNAME_KEY_LENGTH = 128

# The organization part of a username, or None when it had none that parses.
OrgId = uuid.UUID | None


@dataclass(slots=True)
class Record:
    failures: float = 0.0
    blocked_until: float = 0.0
    last_failure: float = 0.0
    # Back-offs served so far (address records only): each next one doubles.
    strikes: int = 0


@dataclass(frozen=True)
class Blocked:
    """Why a login is refused before its password is checked."""

    kind: str  # "username" or "address"
    seconds_left: float


@dataclass(frozen=True)
class Entry:
    """One record, as the dashboard shows it."""

    username: str | None  # None for an address record
    address: str
    failures: int
    seconds_left: float


def username_key(name: str) -> str:
    return name[:USERNAME_KEY_LENGTH].lower()


class Throttle:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        free_failures: int = FREE_FAILURES,
        address_burst: int = ADDRESS_BURST,
        max_records: int = MAX_RECORDS,
    ) -> None:
        self._clock = clock
        self.free_failures = free_failures
        self.address_burst = address_burst
        self.base_backoff = BASE_BACKOFF
        self._max = max_records
        self._pairs: OrderedDict[tuple[OrgId, str, str], Record] = OrderedDict()
        self._addresses: OrderedDict[tuple[OrgId, str], Record] = OrderedDict()

    def blocked(self, org: OrgId, name: str, address: str) -> Blocked | None:
        """Is this login refused without checking its password?"""
        now = self._clock()
        for scope in {org, None}:
            record = self._addresses.get((scope, address))
            if record is not None and record.blocked_until > now:
                return Blocked("address", record.blocked_until - now)
        record = self._pairs.get((org, username_key(name), address))
        if record is not None and record.blocked_until > now:
            return Blocked("username", record.blocked_until - now)
        return None

    def failed(self, org: OrgId, name: str, address: str, *, unknown: bool = False) -> bool:
        """Count a failed login. True when this failure starts a back-off for the username.

        `unknown`: no such username. Those also fill the address's bucket for every organization
        (scope None, with malformed usernames), so a guesser inventing a new organization id for each
        try cannot dodge the per-organization buckets. A fleet's devices have real usernames.
        """
        now = self._clock()
        key = (org, username_key(name), address)
        pair = self._pairs.pop(key, None) or Record()
        pair.failures += 1
        pair.last_failure = now
        starts = pair.failures > self.free_failures
        if starts:
            pair.blocked_until = now + self._backoff(int(pair.failures) - self.free_failures - 1)
        self._pairs[key] = pair

        for scope in {org, None} if unknown else {org}:
            akey = (scope, address)
            bucket = self._addresses.pop(akey, None) or Record()
            drained = (now - bucket.last_failure) / LEAK_SECONDS if bucket.last_failure else 0.0
            bucket.failures = max(0.0, bucket.failures - drained) + 1
            bucket.last_failure = now
            if bucket.failures > self.address_burst and bucket.blocked_until <= now:
                bucket.blocked_until = now + self._backoff(bucket.strikes)
                bucket.strikes += 1
            self._addresses[akey] = bucket
        self._trim(now)
        return starts

    def succeeded(self, org: OrgId, name: str, address: str) -> None:
        self._pairs.pop((org, username_key(name), address), None)

    def entries(self, org: OrgId, name: str | None = None) -> list[Entry]:
        """Records of this organization that block logins now (of one username, if given)."""
        now = self._clock()
        found = []
        if name is None:
            found += [
                Entry(None, address, round(r.failures), r.blocked_until - now)
                for (o, address), r in self._addresses.items()
                if o == org and r.blocked_until > now
            ]
        wanted = None if name is None else username_key(name)
        found += [
            Entry(username, address, int(r.failures), r.blocked_until - now)
            for (o, username, address), r in self._pairs.items()
            if o == org and r.blocked_until > now and wanted in (None, username)
        ]
        return found

    def clear(self, org: OrgId, *, name: str | None = None, address: str | None = None) -> int:
        """Forget records of this organization: of a username (from any address, or one), of an
        address (its buckets, this organization's and the one for unknown usernames, and every
        username's record from it), or with neither, all of them.
        Returns how many went."""
        wanted = None if name is None else username_key(name)
        pairs = [k for k in self._pairs if k[0] == org and wanted in (None, k[1]) and address in (None, k[2])]
        # With neither named: everything of the organization.
        buckets = [k for k in self._addresses if k[0] == org and name is None and address in (None, k[1])]
        # An admin who trusts an address trusts it for unknown usernames too.
        if name is None and address is not None and (None, address) in self._addresses and org is not None:
            buckets.append((None, address))
        for k in pairs:
            del self._pairs[k]
        for b in buckets:
            del self._addresses[b]
        return len(pairs) + len(buckets)

    def _backoff(self, step: int) -> float:
        return min(self.base_backoff * 2 ** min(step, 30), MAX_BACKOFF)

    def __len__(self) -> int:
        return len(self._pairs) + len(self._addresses)

    def _trim(self, now: float) -> None:
        for records in (self._pairs, self._addresses):
            while len(records) > self._max:
                records.popitem(last=False)
            # The oldest failures are at the front: drop those past their back-off and quiet long enough.
            while records:
                oldest = next(iter(records.values()))
                if oldest.blocked_until > now or now - oldest.last_failure < FORGET_AFTER:
                    break
                records.popitem(last=False)
