"""The request our views receive, typed, and the two rules every htmx view follows.

After the middleware, every signed-in request knows its organization and the user's membership in it.
"""

from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.middleware import HtmxDetails

from workspaces.models import Membership, Organization


class AuthedRequest(HttpRequest):
    user: User
    htmx: HtmxDetails
    organization: Organization
    membership: Membership


def wants_partial(request: AuthedRequest) -> bool:
    """An htmx swap gets the partial; a history restore after a cache miss needs the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def render_dialog(
    request: AuthedRequest, template: str, partial: str, context: dict[str, Any]
) -> HttpResponse:
    """A dialog page: the whole page without htmx, a <dialog> around the partial with it."""
    if wants_partial(request):
        return render(request, "_dialog.html", {**context, "dialog_body": f"{template}#{partial}"})
    return render(request, template, context)
