"""Settings → Members: the members with their roles, pending invitations and sign-in lockouts.

Everyone sees the list; owners and admins invite (admins not owners); owners change roles, remove
members and clear lockouts. The invitation link is shown once, in the response to the POST that made
it, like a client's password.
"""

from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from workspaces import audit, invitations, members
from workspaces.access import get_in_org, require_change, require_owner
from workspaces.http import AuthedRequest, done, render_dialog, wants_partial
from workspaces.member_forms import InviteForm, RoleForm
from workspaces.models import Invitation, Membership


def lockouts_of(request: AuthedRequest) -> QuerySet[AccessAttempt]:
    """Locked-out sign-ins for this organization's members' accounts."""
    emails = Membership.objects.filter(organization=request.organization).values_list(
        "user__email", flat=True
    )
    return AccessAttempt.objects.filter(
        username__in=list(emails), failures_since_start__gte=settings.AXES_FAILURE_LIMIT
    ).order_by("-attempt_time")


@require_GET
@vary_on_headers("HX-Request")
def member_list(request: AuthedRequest) -> HttpResponse:
    organization = request.organization
    context = {
        "nav": "settings",
        "tab": "members",
        "members": Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("user__email"),
        "invitations": Invitation.objects.filter(organization=organization).pending(),
        "lockouts": lockouts_of(request) if request.membership.is_owner else [],
        "roles": Membership.Role,
    }
    template = (
        "workspaces/members.html#member-tables" if wants_partial(request) else "workspaces/members.html"
    )
    return render(request, template, context)


@never_cache
@require_http_methods(["GET", "POST"])
def member_invite(request: AuthedRequest) -> HttpResponse:
    require_change(request)
    form = InviteForm(request.POST or None, granter=request.membership)
    if request.method == "POST" and form.is_valid():
        try:
            invitation, token = invitations.invite(
                organization=request.organization,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                by=request.membership,
            )
        except ValidationError as exc:
            form.add_error("email", exc.message_dict.get("email", exc.messages))
        else:
            link = request.build_absolute_uri(invitations.link_path(token))
            context = {"nav": "settings", "invitation": invitation, "link": link}
            context["mailed"] = invitations.send(invitation, link)
            template = (
                "workspaces/invite.html#invitation-reveal"
                if wants_partial(request)
                else "workspaces/invite.html"
            )
            return trigger_client_event(render(request, template, context), "invitationCreated")
    context = {"nav": "settings", "form": form}
    return render_dialog(request, "workspaces/invite.html", "member-invite", context)


@require_http_methods(["GET", "POST"])
def member_role(request: AuthedRequest, pk: int) -> HttpResponse:
    member = get_in_org(request, Membership.objects.select_related("user"), pk=pk)
    form = RoleForm(request.POST or None, initial={"role": member.role})
    error: object = ""
    if request.method == "POST":
        require_owner(request)
    if request.method == "POST" and form.is_valid():
        try:
            members.change_role(member, form.cleaned_data["role"], by=request.membership)
        except members.LastOwnerError as exc:
            error = exc.message
        else:
            return done(
                request,
                f"{member.user.email} is now {form.cleaned_data['role']}.",
                event="memberChanged",
                next_url=reverse("workspaces:members"),
            )
    context = {"nav": "settings", "member": member, "form": form, "error": error}
    return render_dialog(request, "workspaces/member_role.html", "member-role", context)


@require_http_methods(["GET", "POST"])
def member_remove(request: AuthedRequest, pk: int) -> HttpResponse:
    member = get_in_org(request, Membership.objects.select_related("user"), pk=pk)
    error: object = ""
    if request.method == "POST":
        require_owner(request)
        try:
            members.remove(member, by=request.membership)
        except members.LastOwnerError as exc:
            error = exc.message
        else:
            return done(
                request,
                f"Removed {member.user.email}; their sessions have ended.",
                event="memberChanged",
                next_url=reverse("workspaces:members"),
            )
    context = {"nav": "settings", "member": member, "error": error}
    return render_dialog(request, "workspaces/member_remove.html", "member-remove", context)


@require_http_methods(["GET", "POST"])
def invitation_revoke(request: AuthedRequest, pk: int) -> HttpResponse:
    invitation = get_in_org(request, Invitation.objects.all(), pk=pk)
    require_change(request)
    if not members.may_grant(request.membership, invitation.role):
        raise PermissionDenied("Only owners revoke an invitation to become owner.")
    if request.method == "POST":
        invitations.revoke(invitation, by=request.membership)
        return done(
            request,
            f"Revoked the invitation for {invitation.email}.",
            event="memberChanged",
            next_url=reverse("workspaces:members"),
        )
    context = {"nav": "settings", "invitation": invitation}
    return render_dialog(request, "workspaces/invitation_revoke.html", "invitation-revoke", context)


@require_http_methods(["GET", "POST"])
def lockout_clear(request: AuthedRequest, pk: int) -> HttpResponse:
    lockout = lockouts_of(request).filter(pk=pk).first()
    if lockout is None:
        raise Http404("Not found.")
    if request.method == "POST":
        require_owner(request)
        with transaction.atomic():
            reset(ip=lockout.ip_address, username=lockout.username)
            audit.record(
                request.organization,
                "signin.unlocked",
                target_type="account",
                target_id=lockout.username,
                target_name=lockout.username,
                details={"source_address": lockout.ip_address},
            )
        return done(
            request,
            f"{lockout.username} can sign in again from {lockout.ip_address}.",
            event="memberChanged",
            next_url=reverse("workspaces:members"),
        )
    context = {"nav": "settings", "lockout": lockout}
    return render_dialog(request, "workspaces/lockout_clear.html", "lockout-clear", context)
