"""The project's own pages: the help pages the guide links to, and the health check."""

from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from clients.models import USERNAME_HELP, MqttClient
from cloudsignal.broker.tls import self_signed_paths
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
    example = MqttClient(
        username="agent-research-01",
        organization=request.organization,
        workspace=request.organization.default_workspace,
    )
    context = {
        "nav": "help",
        "full_username": example.device_username,
        "tls_cert_configured": bool(settings.TLS_CERT),
        "self_signed_cert": broker_certificate(),
    }
    return render(request, "help/first_connection.html", context)


def broker_certificate() -> Path:
    """The certificate the broker's TLS listener presents: the configured one, or the data dir's
    self-signed one (its own CA)."""
    if settings.TLS_CERT:
        return Path(settings.TLS_CERT)
    return self_signed_paths(Path(settings.DATA_DIR))[0]


@require_GET
def ca_certificate(request: AuthedRequest) -> FileResponse:
    """ "Download CA certificate": what devices pass as their CA file (ca.pem). Signed-in members only,
    like every page; the certificate is public, its key never leaves the server."""
    path = broker_certificate()
    if not path.is_file():
        raise Http404("The broker has not made its certificate yet: start it once (manage.py serve).")
    return FileResponse(
        path.open("rb"), as_attachment=True, filename="ca.pem", content_type="application/x-pem-file"
    )
