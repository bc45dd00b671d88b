from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from clients.models import MqttClient
from workspaces.access import organization_of


@require_http_methods(["GET"])
def client_list(request: HttpRequest) -> HttpResponse:
    clients = MqttClient.objects.in_org(organization_of(request)).select_related("workspace")
    return render(request, "clients/list.html", {"clients": clients})
