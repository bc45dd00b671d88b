from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from clients import provisioning
from clients.models import USERNAME_HELP
from cloudsignal.http import AuthedRequest, render_dialog, wants_partial
from workspaces.access import get_in_org, require_change, require_owner
from workspaces.forms import OrganizationForm, SetupForm, WorkspaceForm
from workspaces.middleware import SESSION_ORGANIZATION_KEY
from workspaces.models import Workspace
from workspaces.onboarding import set_up_first_owner


@login_not_required
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    """First run: create the organization and its owner, then sign the owner in."""
    if get_user_model().objects.exists():
        return redirect("clients:list")
    form = SetupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        organization = set_up_first_owner(
            organization_name=form.cleaned_data["organization_name"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
        )
        owner = organization.memberships.get().user
        login(request, owner, backend="workspaces.backends.EmailBackend")
        request.session[SESSION_ORGANIZATION_KEY] = str(organization.pk)
        return redirect("clients:list")
    return render(request, "workspaces/setup.html", {"form": form})


@require_POST
def switch_organization(request: HttpRequest) -> HttpResponse:
    wanted = request.POST.get("organization", "")
    if any(str(m.organization_id) == wanted for m in request.memberships):  # type: ignore[attr-defined]
        request.session[SESSION_ORGANIZATION_KEY] = wanted
    return redirect("clients:list")


@login_not_required
@require_http_methods(["GET", "HEAD"])
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


# Settings → Organization


@require_http_methods(["GET", "POST"])
def organization_settings(request: AuthedRequest) -> HttpResponse:
    """Everyone sees the name and the Organization ID; only owners rename."""
    organization = request.organization
    form = OrganizationForm(request.POST or None, initial={"name": organization.name})
    if request.method == "POST":
        require_owner(request)
        if form.is_valid():
            organization.name = form.cleaned_data["name"]
            organization.save(update_fields=["name"])
            messages.success(request, "Organization renamed.")
            return redirect("workspaces:organization")
    return render(request, "workspaces/organization.html", {"nav": "settings", "form": form})


# Workspaces


@require_GET
@vary_on_headers("HX-Request")
def workspace_list(request: AuthedRequest) -> HttpResponse:
    workspaces = Workspace.objects.in_org(request.organization).annotate(client_count=Count("mqtt_clients"))
    context = {"nav": "workspaces", "workspaces": workspaces}
    template = "workspaces/list.html#workspace-table" if wants_partial(request) else "workspaces/list.html"
    return render(request, template, context)


def workspace_saved(request: AuthedRequest, event: str) -> HttpResponse:
    if wants_partial(request):
        response = render(request, "clients/done.html#client-done", {"outcome": "Workspace saved."})
        return trigger_client_event(response, event)
    messages.success(request, "Workspace saved.")
    return redirect("workspaces:list")


@require_http_methods(["GET", "POST"])
def workspace_create(request: AuthedRequest) -> HttpResponse:
    require_change(request)
    form = WorkspaceForm(request.POST or None, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        form.save()
        return workspace_saved(request, "workspaceCreated")
    context = {"nav": "workspaces", "form": form, "workspace": None}
    if wants_partial(request) and request.method == "POST":
        return render(request, "workspaces/form.html#workspace-form", context)
    return render_dialog(request, "workspaces/form.html", "workspace-form", context)


@require_http_methods(["GET", "POST"])
def workspace_rename(request: AuthedRequest, pk: int) -> HttpResponse:
    workspace = get_in_org(request, Workspace.objects.all(), pk=pk)
    require_change(request)
    form = WorkspaceForm(request.POST or None, organization=request.organization, workspace=workspace)
    if request.method == "POST" and form.is_valid():
        form.save()
        return workspace_saved(request, "workspaceRenamed")
    context = {"nav": "workspaces", "form": form, "workspace": workspace}
    if wants_partial(request) and request.method == "POST":
        return render(request, "workspaces/form.html#workspace-form", context)
    return render_dialog(request, "workspaces/form.html", "workspace-form", context)


# The confirmation names this many of the clients that go with a workspace, then counts the rest.
CLIENTS_NAMED = 10


@require_http_methods(["GET", "POST"])
def workspace_delete(request: AuthedRequest, pk: int) -> HttpResponse:
    workspace = get_in_org(request, Workspace.objects.all(), pk=pk)
    require_change(request)
    if request.method == "POST" and not workspace.is_default:
        name = workspace.name
        ended = provisioning.delete_workspace(workspace)
        messages.success(request, " ".join(filter(None, [f"Deleted workspace {name}.", ended.describe()])))
        if request.htmx:
            return trigger_client_event(
                HttpResponseClientRedirect(reverse("workspaces:list")), "workspaceDeleted"
            )
        return redirect("workspaces:list")
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


# Help pages the guide links to


@require_GET
def help_username_format(request: AuthedRequest) -> HttpResponse:
    return render(request, "help/username_format.html", {"nav": "help", "username_help": USERNAME_HELP})


@require_GET
def help_first_connection(request: AuthedRequest) -> HttpResponse:
    context = {
        "nav": "help",
        "full_username": f"agent-research-01@{request.organization.pk}",
        "tls_cert_configured": bool(settings.TLS_CERT),
        # The name cloudsignal.broker.tls.CERT_NAME gives it (the dashboard does not import the broker;
        # tests/views check that the two agree).
        "self_signed_cert": Path(settings.DATA_DIR) / "broker-cert.pem",
    }
    return render(request, "help/first_connection.html", context)
