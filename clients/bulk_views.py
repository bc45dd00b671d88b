"""Bulk Disable, Enable and Delete from the Clients list: one confirmation that counts the live
sessions that will end, then the same model verbs the command line uses (disable(), enable(),
delete()), so revocation works as it does one client at a time.

The list's checkboxes send ?ids=...; the confirmation posts them back. Ids of another organization
are ignored: a client outside the request's organization is never selected.
"""

from django.db import transaction
from django.http import HttpResponse
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from clients import engine
from clients.engine import SessionsEnded
from clients.models import MqttClient
from workspaces.access import require_change
from workspaces.http import AuthedRequest, done, render_dialog

# A bulk action works on what one page of the list can select.
MOST_SELECTED = 200

VERBS = {
    # name: (title verb, past tense, whether live sessions end)
    "disable": ("Disable", "Disabled", True),
    "enable": ("Enable", "Enabled", False),
    "delete": ("Delete", "Deleted", True),
}


def selected(request: AuthedRequest) -> list[MqttClient]:
    data = request.POST if request.method == "POST" else request.GET
    ids = [i for i in data.getlist("ids") if i.isdigit()][:MOST_SELECTED]
    return list(
        MqttClient.objects.in_org(request.organization)
        .filter(pk__in=ids)
        .select_related("organization")
        .order_by("username")
    )


def bulk(request: AuthedRequest, verb: str) -> HttpResponse:
    require_change(request)
    clients = selected(request)
    title, past, ends_sessions = VERBS[verb]
    if request.method == "POST" and clients:
        with transaction.atomic():
            outcomes = [act(client, verb) for client in clients]
        count = len(clients)
        return done(
            request,
            f"{past} {count} client{pluralize(count)}.",
            SessionsEnded.total(o for o in outcomes if o is not None),
            event="clientsChanged",
            next_url=reverse("clients:list"),
        )
    live = sum(engine.current().count_by_client(clients).values()) if ends_sessions else 0
    context = {
        "nav": "clients",
        "verb": verb,
        "title": title,
        "clients": clients,
        "live_count": live,
        "action_url": reverse(f"clients:bulk-{verb}"),
    }
    return render_dialog(request, "clients/bulk.html", "client-bulk", context)


def act(client: MqttClient, verb: str) -> SessionsEnded | None:
    if verb == "delete":
        return client.delete()
    if verb == "disable":
        return client.disable() if client.enabled else None
    return client.enable() if not client.enabled else None


@require_http_methods(["GET", "POST"])
def bulk_disable(request: AuthedRequest) -> HttpResponse:
    return bulk(request, "disable")


@require_http_methods(["GET", "POST"])
def bulk_enable(request: AuthedRequest) -> HttpResponse:
    return bulk(request, "enable")


@require_http_methods(["GET", "POST"])
def bulk_delete(request: AuthedRequest) -> HttpResponse:
    return bulk(request, "delete")
