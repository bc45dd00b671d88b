"""How every app's views answer: the typed request, dialogs, and the response after a change.

After the middleware, every signed-in request knows its organization and the user's membership in it.
A dialog URL answers htmx with a <dialog> to open over the page and everyone else with a whole page,
so the dashboard works without JavaScript and plain test clients can drive it.
"""

from typing import Any, Protocol

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django_htmx.http import HttpResponseClientRedirect, reswap, trigger_client_event
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
    request: AuthedRequest,
    template: str,
    partial: str,
    context: dict[str, Any],
    *,
    page: str | None = None,
) -> HttpResponse:
    """A dialog URL's answer, including its form coming back with errors.

    htmx gets `template#partial` inside a <dialog> (_dialog.html), except when it aims at the
    partial's own element (a form posting back into itself, hx-target="#<partial>"): then the
    partial alone, to replace itself with the errors beside the fields. Without htmx, the whole page:
    `template` itself (the partial inline in it), or `page` showing the partial, for dialogs kept in
    another page's template (acl/rules.html's, shown by acl/page.html).
    """
    body = f"{template}#{partial}"
    if not wants_partial(request):
        if page is None:
            return render(request, template, context)
        return render(request, page, {**context, "dialog_body": body})
    if request.htmx.target == partial:
        return render(request, body, context)
    return render(request, "_dialog.html", {**context, "dialog_body": body})


class Describes(Protocol):
    """What else a change did, as a sentence, or "" when there is nothing to say (for example
    clients.hints.SessionsEnded: how many live sessions the broker ended)."""

    def describe(self) -> str: ...


def done(
    request: AuthedRequest,
    message: str = "",
    also: Describes | None = None,
    *,
    event: str,
    event_detail: dict[str, Any] | None = None,
    next_url: str,
    navigate: bool = False,
) -> HttpResponse:
    """After a change went through: the message, followed by what `also` says, and the event the
    page listens for (refreshing its lists).

    Without htmx: a redirect to `next_url`, the message shown there. With htmx: nothing is swapped;
    the "changeDone" event closes the dialog and app.js puts the message in the page's status line
    while the page's lists refresh in place; or, with `navigate` (what the page shows is gone), htmx
    loads `next_url`, the message waiting there.
    """
    outcome = " ".join(filter(None, [message, also.describe() if also else ""]))
    if wants_partial(request) and not navigate:
        response = reswap(HttpResponse(""), "none")
        trigger_client_event(response, event, event_detail)
        return trigger_client_event(response, "changeDone", {"message": outcome})
    if outcome:
        messages.success(request, outcome)
    if wants_partial(request):
        return trigger_client_event(HttpResponseClientRedirect(next_url), event, event_detail)
    return redirect(next_url)
