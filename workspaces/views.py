from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from workspaces.forms import SetupForm
from workspaces.middleware import SESSION_ORGANIZATION_KEY
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
