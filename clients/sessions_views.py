"""The Sessions page: every live MQTT session of the organization, with a plain "Disconnect"."""

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from clients import engine
from clients.engine import Session
from workspaces.access import require_change
from workspaces.http import AuthedRequest, done, render_dialog, wants_partial

# A page of sessions; a fleet larger than this is better searched from the Clients page.
SESSIONS_SHOWN = 500


@require_GET
@vary_on_headers("HX-Request")
def session_list(request: AuthedRequest) -> HttpResponse:
    sessions = engine.current().live_sessions(request.organization)
    context = {"nav": "sessions", "sessions": sessions[:SESSIONS_SHOWN], "limit": SESSIONS_SHOWN}
    template = "clients/sessions.html#session-table" if wants_partial(request) else "clients/sessions.html"
    return render(request, template, context)


def session_of(request: AuthedRequest, pk: int) -> Session:
    # A live session reaches its organization through its client, so access.get_in_org does not apply.
    session = next((s for s in engine.current().live_sessions(request.organization) if s.pk == pk), None)
    if session is None:
        raise Http404("No such live session.")
    return session


@require_http_methods(["GET", "POST"])
def session_disconnect(request: AuthedRequest, pk: int) -> HttpResponse:
    session = session_of(request, pk)
    require_change(request)
    if request.method == "POST":
        ended = engine.disconnect(session)
        return done(
            request,
            f"Disconnected {session.mqtt_client_id}.",
            ended,
            event="sessionDisconnected",
            event_detail={"id": session.pk},
            next_url=reverse("clients:sessions"),
        )
    context = {"nav": "sessions", "session": session}
    return render_dialog(request, "clients/session_disconnect.html", "session-disconnect", context)
