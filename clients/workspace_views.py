"""Deleting a workspace, which deletes its clients and ends their live sessions.

It spans both apps, so clients owns it; cloudsignal/urls.py routes it among the workspace pages.
"""

from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from clients import provisioning
from workspaces.access import get_in_org, require_change
from workspaces.http import AuthedRequest, done, render_dialog
from workspaces.models import Workspace

# The confirmation names this many of the clients that go with a workspace, then counts the rest.
CLIENTS_NAMED = 10


@require_http_methods(["GET", "POST"])
def workspace_delete(request: AuthedRequest, pk: int) -> HttpResponse:
    workspace = get_in_org(request, Workspace.objects.all(), pk=pk)
    require_change(request)
    if request.method == "POST" and not workspace.is_default:
        name = workspace.name
        ended = provisioning.delete_workspace(workspace)
        return done(
            request,
            f"Deleted workspace {name}.",
            ended,
            event="workspaceDeleted",
            next_url=reverse("workspaces:list"),
            navigate=True,
        )
    clients = workspace.mqtt_clients.select_related("organization").order_by("username")
    client_count = clients.count()
    named_clients = list(clients[:CLIENTS_NAMED])
    context = {
        "nav": "workspaces",
        "workspace": workspace,
        "client_count": client_count,
        "named_clients": named_clients,
        "more_clients": client_count - len(named_clients),
        "refused": request.method == "POST",
    }
    return render_dialog(request, "workspaces/delete.html", "workspace-delete", context)
