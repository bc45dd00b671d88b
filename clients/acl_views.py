from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods


@require_http_methods(["GET"])
def rules(request: HttpRequest) -> HttpResponse:
    # Placeholder until the ACL rules issue lands.
    return render(request, "acl/rules.html", {"nav": "acl"})
