"""First-run setup, switching organization, Settings → Organization, and the Workspaces pages.

Deleting a workspace takes its clients with it, so that page lives in clients/workspace_views.py.
"""

from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from workspaces import audit
from workspaces.access import get_in_org, require_change, require_owner
from workspaces.forms import OrganizationForm, SetupForm, WorkspaceForm
from workspaces.http import AuthedRequest, done, render_dialog, wants_partial
from workspaces.middleware import SESSION_ORGANIZATION_KEY
from workspaces.models import Workspace
from workspaces.onboarding import SetupAlreadyDone, is_setup_token, set_up_first_owner


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    """First run: create the organization and its owner, then sign the owner in.

    Only with the setup token that `manage.py serve` prints; exactly once, whatever arrives at the
    same moment (set_up_first_owner); and it never signs anyone in to an account that existed before.
    """
    if get_user_model().objects.exists():
        return redirect("clients:list")
    token = request.POST.get("token") or request.GET.get("token", "")
    if not is_setup_token(token):
        return render(
            request, "workspaces/setup_token.html", {"tried": bool(token)}, status=403 if token else 200
        )
    form = SetupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organization = set_up_first_owner(
                organization_name=form.cleaned_data["organization_name"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
            )
        except SetupAlreadyDone:
            return render(request, "workspaces/setup_done.html", status=409)
        owner = organization.memberships.get().user
        login(request, owner, backend="workspaces.backends.EmailBackend")
        request.session[SESSION_ORGANIZATION_KEY] = str(organization.pk)
        return redirect("clients:list")
    return render(request, "workspaces/setup.html", {"form": form, "token": token})


@require_POST
def switch_organization(request: HttpRequest) -> HttpResponse:
    wanted = request.POST.get("organization", "")
    if any(str(m.organization_id) == wanted for m in request.memberships):  # type: ignore[attr-defined]
        request.session[SESSION_ORGANIZATION_KEY] = wanted
    return redirect("clients:list")


# Settings → Organization


@require_http_methods(["GET", "POST"])
def organization_settings(request: AuthedRequest) -> HttpResponse:
    """Everyone sees the name and the Organization ID; only owners rename."""
    organization = request.organization
    form = OrganizationForm(request.POST or None, initial={"name": organization.name})
    if request.method == "POST":
        require_owner(request)
        if form.is_valid():
            with transaction.atomic():
                name = form.cleaned_data["name"]
                details = {"name": [organization.name, name]}
                audit.record(organization, "organization.renamed", organization, details=details)
                organization.name = name
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


@require_http_methods(["GET", "POST"])
def workspace_create(request: AuthedRequest) -> HttpResponse:
    require_change(request)
    form = WorkspaceForm(request.POST or None, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        form.save()
        return done(
            request, "Workspace saved.", event="workspaceCreated", next_url=reverse("workspaces:list")
        )
    context = {"nav": "workspaces", "form": form, "workspace": None}
    return render_dialog(request, "workspaces/form.html", "workspace-form", context)


@require_http_methods(["GET", "POST"])
def workspace_rename(request: AuthedRequest, pk: int) -> HttpResponse:
    workspace = get_in_org(request, Workspace.objects.all(), pk=pk)
    require_change(request)
    form = WorkspaceForm(request.POST or None, organization=request.organization, workspace=workspace)
    if request.method == "POST" and form.is_valid():
        form.save()
        return done(
            request, "Workspace saved.", event="workspaceRenamed", next_url=reverse("workspaces:list")
        )
    context = {"nav": "workspaces", "form": form, "workspace": workspace}
    return render_dialog(request, "workspaces/form.html", "workspace-form", context)
