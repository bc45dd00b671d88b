"""Your account (password, other sessions, organizations) and the invitation link's page."""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import authenticate, login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from workspaces import audit, invitations, signins
from workspaces.http import AuthedRequest
from workspaces.member_forms import ExistingPasswordForm, NewPasswordForm
from workspaces.middleware import SESSION_ORGANIZATION_KEY
from workspaces.models import Membership

BACKEND = "workspaces.backends.EmailBackend"


def _record_everywhere(user: User, action: str, details: dict[str, object]) -> None:
    for membership in Membership.objects.for_user(user):
        audit.record(membership.organization, action, user, target_type="account", details=details)


@never_cache
@require_GET
def account(request: AuthedRequest) -> HttpResponse:
    """Change your password, sign out elsewhere, and see your organizations."""
    return account_page(request, PasswordChangeForm(request.user))


def account_page(request: AuthedRequest, form: PasswordChangeForm) -> HttpResponse:
    memberships = Membership.objects.for_user(request.user)
    context = {"nav": "account", "form": form, "account_memberships": memberships}
    return render(request, "workspaces/account.html", context)


@never_cache
@require_POST
def change_password(request: AuthedRequest) -> HttpResponse:
    """A new password; every other session of yours ends, this one stays signed in."""
    form = PasswordChangeForm(request.user, request.POST)
    if not form.is_valid():
        return account_page(request, form)
    with transaction.atomic():
        user = form.save()
        ended = signins.end_sessions(user, keep=request.session.session_key)
        _record_everywhere(user, "account.password_changed", {"sessions_ended": ended})
    # Keeps this session: its hash follows the new password.
    update_session_auth_hash(request, user)
    messages.success(request, "Password changed. Your other sessions have ended.")
    return redirect("account")


@require_POST
def sign_out_others(request: AuthedRequest) -> HttpResponse:
    with transaction.atomic():
        ended = signins.end_sessions(request.user, keep=request.session.session_key)
        _record_everywhere(request.user, "account.signed_out_elsewhere", {"sessions_ended": ended})
    messages.success(
        request, f"Signed out everywhere else ({ended} session{'s' if ended != 1 else ''} ended)."
    )
    return redirect("account")


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The invitation link: a new person chooses a password, an existing account signs in; both join."""
    try:
        invite = invitations.find(token)
    except invitations.InvitationUnusable as exc:
        return render(request, "workspaces/invitation.html", {"problem": str(exc)}, status=404)
    user = request.user if request.user.is_authenticated else None
    account = user or User.objects.filter(email__iexact=invite.email).order_by("pk").first()
    form: forms.Form | None
    if user is not None:
        form = None
    elif account is not None:
        form = ExistingPasswordForm(request.POST or None)
    else:
        form = NewPasswordForm(request.POST or None)
    context: dict[str, object] = {
        "invitation": invite,
        "form": form,
        "account": account,
        "signed_in": user is not None,
    }
    if user is not None and user.email.lower() != invite.email:
        context["problem"] = f"This invitation is for {invite.email}; you are signed in as {user.email}."
        return render(request, "workspaces/invitation.html", context, status=403)
    if request.method == "POST" and (form is None or form.is_valid()):
        if user is None and account is not None:
            user = authenticate(request, username=invite.email, password=form.cleaned_data["password"])  # type: ignore[union-attr]
            if user is None:
                if getattr(request, "axes_locked_out", False):
                    # AxesMiddleware turns this into the lockout page.
                    return HttpResponse(status=403)
                form.add_error("password", "That is not the password of this account.")  # type: ignore[union-attr]
                return render(request, "workspaces/invitation.html", context)
        try:
            with transaction.atomic():
                if user is None:
                    user = User.objects.create_user(
                        username=invite.email,
                        email=invite.email,
                        password=form.cleaned_data["password"],  # type: ignore[union-attr]
                    )
                invitations.accept(token, user)
        except invitations.InvitationUnusable as exc:
            return render(request, "workspaces/invitation.html", {"problem": str(exc)}, status=404)
        if not request.user.is_authenticated:
            login(request, user, backend=BACKEND)
        request.session[SESSION_ORGANIZATION_KEY] = str(invite.organization_id)
        messages.success(request, f"Welcome to {invite.organization.name}.")
        return redirect("clients:list")
    return render(request, "workspaces/invitation.html", context)


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """The one-time link `organizations create` prints for an owner without a password."""

    template_name = "registration/set_password.html"
    success_url = reverse_lazy("login")

    def form_valid(self, form: Any) -> HttpResponse:
        with transaction.atomic():
            response = super().form_valid(form)
            _record_everywhere(form.user, "account.password_changed", {"by": "set-password link"})
        return response
