"""Who is calling: `Authorization: Bearer <key>`, checked against workspaces.apikeys.

Any key that does not work (missing, malformed, unknown, expired, revoked) gets the same 401, so a
caller cannot tell which it was. A working key is rate-limited per key (settings.API_RATE_LIMIT
requests a minute; over it, 429 with Retry-After), acts only in its own organization, and its changes
go to the audit trail with the key as the actor.
"""

import math
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja.security.http import HttpAuthBase
from ninja.throttling import BaseThrottle

from workspaces import apikeys, audit
from workspaces.models import ApiKey

RATE_WINDOW_SECONDS = 60


class ApiRequest(HttpRequest):
    auth: ApiKey


class BearerKey(HttpAuthBase):
    """The API key in `Authorization: Bearer <key>`.

    Not ninja's HttpBearer: that one logs a header with another scheme in full when DEBUG is on, and
    a key must never reach a log line."""

    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest) -> ApiKey | None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return apikeys.authenticate(key.strip())


class PerKeyRate(BaseThrottle):
    """settings.API_RATE_LIMIT requests per key per minute, counted in fixed windows in Django's cache
    (atomic increments: per process with the default local-memory cache, shared with a shared one)."""

    def allow_request(self, request: HttpRequest) -> bool:
        key = cast(ApiRequest, request).auth
        window = int(time.time() // RATE_WINDOW_SECONDS)
        counter = f"api-rate:{key.pk}:{window}"
        cache.add(counter, 0, RATE_WINDOW_SECONDS * 2)
        try:
            count = cache.incr(counter)
        except ValueError:  # evicted between add and incr
            cache.set(counter, 1, RATE_WINDOW_SECONDS * 2)
            count = 1
        return bool(count <= settings.API_RATE_LIMIT)

    def wait(self) -> float:
        """Seconds until the current window ends."""
        return max(1, math.ceil(RATE_WINDOW_SECONDS - time.time() % RATE_WINDOW_SECONDS))


def require_admin(request: ApiRequest) -> None:
    """Changes need an admin key; viewer keys read."""
    if not request.auth.can_change:
        raise PermissionDenied("This is a viewer key: it can read but not change anything.")


def as_the_key[F: Callable[..., Any]](view: F) -> F:
    """For the length of an endpoint, audit entries name the API key and the source address."""

    @wraps(view)
    def run(request: ApiRequest, *args: Any, **kwargs: Any) -> Any:
        with audit.acting_as(audit.Actor.api_key(request.auth, audit.source_address(request))):
            return view(request, *args, **kwargs)

    return cast(F, run)
