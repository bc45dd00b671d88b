"""API keys: made with a name, a role and an optional expiry, shown once, revocable at once.

A key is `csk_` and 43 characters of a random 32-byte value. Only its SHA-256 is stored (a random
256-bit key cannot be guessed, so a fast hash loses nothing and keeps every API request cheap), with
its first characters as a prefix people recognise it by. The dashboard (Settings → API keys), the
command line (`manage.py apikeys`) and the REST API's authentication (cloudsignal/api) all come here.
"""

import hashlib
import re
import secrets
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from workspaces import audit
from workspaces.models import ApiKey, Organization

KEY_PREFIX = "csk_"
# How much of a key is kept in clear to tell keys apart: "csk_" and 8 of its 43 random characters.
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 8
KEY_PATTERN = re.compile(r"csk_[A-Za-z0-9_-]{43}")
# last_used is written at most this often per key, not on every request.
LAST_USED_PRECISION = timedelta(minutes=1)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def create(
    *,
    organization: Organization,
    name: str,
    role: str,
    expires_days: int | None = None,
    created_by: User | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its plaintext, which the caller shows once and forgets."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        organization=organization,
        name=name.strip(),
        role=role,
        key_hash=key_hash(key),
        prefix=key[:SHOWN_PREFIX_LENGTH],
        created_by=created_by,
        created_by_label=audit.current_actor().label,
        expires=timezone.now() + timedelta(days=expires_days) if expires_days else None,
    )
    audit.record(
        organization,
        "apikey.created",
        api_key,
        details={
            "role": role,
            "prefix": api_key.prefix,
            "expires": api_key.expires.isoformat() if api_key.expires else None,
        },
    )
    return api_key, key


@transaction.atomic
def revoke(api_key: ApiKey) -> None:
    """The key stops working with the next request. Revoking twice changes nothing."""
    if api_key.revoked is not None:
        return
    api_key.revoked = timezone.now()
    api_key.save(update_fields=["revoked"])
    audit.record(api_key.organization_id, "apikey.revoked", api_key, details={"prefix": api_key.prefix})


def authenticate(key: str) -> ApiKey | None:
    """The usable key this is (not expired, not revoked), or None for anything else, told apart by
    nothing: a malformed, unknown, expired or revoked key all get None."""
    if not KEY_PATTERN.fullmatch(key):
        return None
    api_key = ApiKey.objects.usable().select_related("organization").filter(key_hash=key_hash(key)).first()
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used is None or now - api_key.last_used >= LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used=now)
        api_key.last_used = now
    return api_key
