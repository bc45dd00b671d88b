"""The API itself: /api/v1/ with its OpenAPI description at /api/v1/openapi.json and interactive docs
at /api/v1/docs.

The docs are ninja's Swagger UI, served from the package's own static files through WhiteNoise (no
CDN: they work offline), with a template of ours so the page passes the project's Content-Security-
Policy (no inline script or style) and never asks swagger.io to validate the description.

Sign-in does not apply here (LoginRequiredMiddleware would redirect an API call to the sign-in page):
every endpoint authenticates its own key; the description and the docs are public, as the source is.
Every answer carries `Cache-Control: no-store`: some hold a password, none is worth keeping.
"""

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, path
from django.views.decorators.cache import never_cache
from ninja import NinjaAPI, Swagger

from cloudsignal.api import acl, audit, clients, errors, sessions, workspaces
from cloudsignal.api.auth import ApiRequest, BearerKey, PerKeyRate, as_the_key
from cloudsignal.api.responses import responses
from cloudsignal.api.schemas import KeyOut


class Docs(Swagger):
    template = "api/docs.html"


api = NinjaAPI(
    title="CloudSignal API",
    version="1",
    description=(
        "Provision MQTT clients, workspaces and ACL rules from scripts and pipelines. Authenticate with "
        "an API key (Settings → API keys in the dashboard, or `manage.py apikeys create`) sent as "
        "`Authorization: Bearer <key>`. Admin keys change things; viewer keys read."
    ),
    urls_namespace="api",
    auth=BearerKey(),
    throttle=[PerKeyRate()],
    docs=Docs(settings={"validatorUrl": None, "persistAuthorization": False}),
)
errors.install(api)
api.add_decorator(as_the_key)
for module in (clients, sessions, workspaces, acl, audit):
    api.add_router("", module.router)


@api.get("/key", response=responses(KeyOut), summary="The key in use", tags=["key"])
def current_key(request: ApiRequest) -> dict[str, Any]:
    """The key making this request, its role and its organization: a quick check that a key works."""
    key = request.auth
    return {
        "name": key.name,
        "prefix": key.prefix,
        "role": key.role,
        "expires": key.expires,
        "organization_id": str(key.organization_id),
        "organization_name": key.organization.name,
    }


def _open_and_unkept(patterns: list[Any]) -> list[URLPattern | URLResolver]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            _open_and_unkept(pattern.url_patterns)
        else:
            pattern.callback = never_cache(login_not_required(pattern.callback))
    return patterns


def unknown_endpoint(request: HttpRequest, path: str) -> JsonResponse:
    """A path under /api/v1/ that is no endpoint: JSON like every other error, not an HTML page."""
    return JsonResponse({"detail": "No such endpoint. See /api/v1/docs.", "errors": []}, status=404)


urlpatterns, app_name, namespace = api.urls
urlpatterns = _open_and_unkept([*urlpatterns, path("<path:path>", unknown_endpoint)])
