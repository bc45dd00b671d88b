"""Throttled logins: the organization's usernames and addresses the broker refuses for now, and
"Clear", which lifts a throttle at once.

The broker holds this state in memory; clients.hints.throttled explains why the dashboard asks it
rather than reading the database.
"""

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from clients import engine
from clients.models import MqttClient
from workspaces.access import require_change
from workspaces.http import AuthedRequest, done, render_dialog, wants_partial


@require_GET
@vary_on_headers("HX-Request")
def throttle_list(request: AuthedRequest) -> HttpResponse:
    organization = request.organization
    entries = engine.current().throttled(organization.id, None)
    names = {e.username for e in entries or [] if e.username}
    clients = {
        c.username.lower(): c
        for c in MqttClient.objects.in_org(organization).filter(username__lower__in=names)
    }
    rows = [(entry, clients.get(entry.username or "")) for entry in entries or []]
    context = {"nav": "throttled", "rows": rows, "reachable": entries is not None}
    template = "clients/throttled.html#throttle-table" if wants_partial(request) else "clients/throttled.html"
    return render(request, template, context)


class ClearedThrottles:
    def __init__(self, count: int | None) -> None:
        self.count = count

    def describe(self) -> str:
        if self.count is None:
            return "The broker is not running; nothing is throttled while it is down."
        return "" if self.count else "Nothing was throttled any more."


@require_http_methods(["GET", "POST"])
def throttle_clear(request: AuthedRequest) -> HttpResponse:
    """Clear the throttle on `username` (from every address), on `address`, or with neither named,
    everything of this organization."""
    require_change(request)
    params = request.POST if request.method == "POST" else request.GET
    username = params.get("username", "").strip()[:128] or None
    address = params.get("address", "").strip()[:100] or None
    if request.method == "POST":
        cleared = engine.current().clear_throttle(request.organization.id, username=username, address=address)
        what = username or address or "every throttled username and address"
        return done(
            request,
            f"Cleared the throttle on {what}.",
            ClearedThrottles(cleared),
            event="throttleCleared",
            next_url=reverse("clients:throttled"),
        )
    context = {"nav": "throttled", "username": username, "address": address}
    return render_dialog(request, "clients/throttle_clear.html", "throttle-clear", context)
