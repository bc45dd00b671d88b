from collections.abc import Callable

from django.contrib.auth import get_user_model, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import patch_cache_control

from workspaces import audit
from workspaces.models import Membership

SESSION_ORGANIZATION_KEY = "organization_id"


class FirstRunMiddleware:
    """While no user exists, every page leads to the setup page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.set_up = False

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self.set_up:
            # Cached once true: users are never all deleted from a running install.
            self.set_up = get_user_model().objects.exists()
        if not self.set_up and not _is_exempt(request.path, reverse("setup")):
            return redirect("setup")
        return self.get_response(request)


def _is_exempt(path: str, setup_path: str) -> bool:
    # The REST API answers for itself (401 without a key; no key exists before setup anyway), and so
    # do RabbitMQ's auth questions (deny: no credential exists before setup).
    return (
        path == setup_path or path.startswith(("/static/", "/api/", "/rabbitmq-auth/")) or path == "/healthz"
    )


class CurrentOrganizationMiddleware:
    """Sets request.organization and request.membership: the organization the dashboard works in."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            memberships = list(Membership.objects.for_user(user).order_by("organization__name"))
            if not memberships:
                # A user with no organization has nothing to see; signing out avoids a dead end.
                logout(request)
                return redirect("login")
            wanted = request.session.get(SESSION_ORGANIZATION_KEY)
            membership = next((m for m in memberships if str(m.organization_id) == wanted), memberships[0])
            request.membership = membership  # type: ignore[attr-defined]
            request.organization = membership.organization  # type: ignore[attr-defined]
            request.memberships = memberships  # type: ignore[attr-defined]
        return self.get_response(request)


class AuditActorMiddleware:
    """For the length of a request, audit entries name the signed-in member and the source address."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        address = audit.source_address(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            actor = audit.Actor.member(user, address)
        else:
            actor = audit.Actor(audit.AuditEntry.ActorKind.MEMBER, "anonymous", None, address)
        with audit.acting_as(actor):
            return self.get_response(request)


class PrivateCacheMiddleware:
    """A signed-in page is for its member only: never kept by a shared cache."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True)
        return response
