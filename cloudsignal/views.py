"""The project's own pages: the help pages the guide links to, and the health check."""

from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from clients.models import USERNAME_HELP
from workspaces.http import AuthedRequest


@login_not_required
@require_http_methods(["GET", "HEAD"])
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


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
