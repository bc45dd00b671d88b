"""Settings → API keys: the organization's keys (prefix, role, who made it, when, last used, expiry),
creating one (shown once, like a client's password) and revoking one.

Everyone sees the list; owners and admins create and revoke. The key appears in exactly one response:
the POST that made it (no-store, out of htmx history).
"""

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from workspaces import apikeys
from workspaces.access import get_in_org, require_change
from workspaces.apikey_forms import ApiKeyForm
from workspaces.http import AuthedRequest, done, render_dialog, wants_partial
from workspaces.models import ApiKey

TEMPLATE = "workspaces/apikeys.html"


@require_GET
@vary_on_headers("HX-Request")
def apikey_list(request: AuthedRequest) -> HttpResponse:
    context = {
        "nav": "settings",
        "tab": "apikeys",
        "keys": ApiKey.objects.in_org(request.organization).select_related("created_by"),
        "docs_url": reverse("api:openapi-view"),
    }
    return render(request, f"{TEMPLATE}#apikey-table" if wants_partial(request) else TEMPLATE, context)


@never_cache
@require_http_methods(["GET", "POST"])
def apikey_create(request: AuthedRequest) -> HttpResponse:
    require_change(request)
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        api_key, key = apikeys.create(
            organization=request.organization,
            name=form.cleaned_data["name"],
            role=form.cleaned_data["role"],
            expires_days=form.cleaned_data["expires_days"],
            created_by=request.user,
        )
        context = {"nav": "settings", "api_key": api_key, "key": key, "docs_url": reverse("api:openapi-view")}
        template = "workspaces/apikey_create.html"
        response = render(
            request, f"{template}#apikey-reveal" if wants_partial(request) else template, context
        )
        return trigger_client_event(response, "apiKeyCreated", {"id": api_key.pk})
    context = {"nav": "settings", "form": form}
    return render_dialog(request, "workspaces/apikey_create.html", "apikey-create", context)


@require_http_methods(["GET", "POST"])
def apikey_revoke(request: AuthedRequest, pk: int) -> HttpResponse:
    api_key = get_in_org(request, ApiKey.objects.all(), pk=pk)
    require_change(request)
    if request.method == "POST":
        apikeys.revoke(api_key)
        return done(
            request,
            f"Revoked the API key {api_key}. It no longer works.",
            event="apiKeyRevoked",
            next_url=reverse("workspaces:apikeys"),
        )
    context = {"nav": "settings", "api_key": api_key}
    return render_dialog(request, "workspaces/apikey_revoke.html", "apikey-revoke", context)
