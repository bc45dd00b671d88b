"""Connections → ACL Rules: a workspace's ordered rules, its default, and the "Test access" simulator.

Every page is one template, acl/rules.html, with partials htmx swaps in; every dialog URL renders
as a full page too, so the screens work without JavaScript and plain test clients can drive them.
"""

from typing import Any

from django.db.models.functions import Lower
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_htmx.http import trigger_client_event

from clients.acl.forms import DefaultForm, RuleForm, SimulatorForm
from clients.models import AclRule, MqttClient
from workspaces.access import get_in_org, membership_of, organization_of, require_change
from workspaces.http import AuthedRequest, done, render_dialog, wants_partial
from workspaces.models import Workspace

TEMPLATE = "acl/rules.html"


def _workspace(request: AuthedRequest, workspace_id: object) -> Workspace:
    return get_in_org(request, Workspace.objects.all(), pk=workspace_id)


def _rule(request: AuthedRequest, workspace_id: int, rule_id: int) -> AclRule:
    workspace = _workspace(request, workspace_id)
    rule = get_object_or_404(
        AclRule.objects.filter(workspace=workspace).select_related("workspace"), pk=rule_id
    )
    return rule


# The rule dialog suggests this many usernames as the admin types; any other may be typed in full.
SUGGESTED_NAMES = 300


def client_names(workspace: Workspace) -> list[str]:
    clients = MqttClient.objects.filter(workspace=workspace).order_by(Lower("username"))
    return list(clients.values_list("username", flat=True)[:SUGGESTED_NAMES])


def _rules_url(workspace: Workspace) -> str:
    return f"{reverse('acl:rules')}?workspace={workspace.pk}"


def _page_context(request: AuthedRequest, workspace: Workspace, **extra: Any) -> dict[str, Any]:
    rules = list(AclRule.objects.in_workspace(workspace))
    context: dict[str, Any] = {
        "nav": "acl",
        "workspace": workspace,
        "workspaces": Workspace.objects.in_org(organization_of(request)),
        "rules": rules,
        # Rules naming one username that no client of the workspace has: left behind, or a typo.
        "unknown_clients": {r.pk for r in AclRule.objects.naming_missing_clients(workspace)},
        "can_change": membership_of(request).can_change,
        "client_names": client_names(workspace),
        "default_form": DefaultForm(initial={"default": workspace.default_permission}),
        "simulator": SimulatorForm(workspace=workspace),
    }
    context.update(extra)
    return context


@require_http_methods(["GET"])
def rules(request: AuthedRequest) -> HttpResponse:
    """The rules of the workspace picked with ?workspace=ID (the organization's default otherwise)."""
    wanted = request.GET.get("workspace")
    workspace = _workspace(request, wanted) if wanted else organization_of(request).default_workspace
    context = _page_context(request, workspace)
    if wants_partial(request):
        return render(request, f"{TEMPLATE}#rule-table", context)
    return render(request, TEMPLATE, context)


@require_http_methods(["GET", "POST"])
def rule_add(request: AuthedRequest, workspace_id: int) -> HttpResponse:
    workspace = _workspace(request, workspace_id)
    require_change(request)
    form = RuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        AclRule.objects.append(workspace, form.spec())
        # No message: htmx closes the dialog with an empty swap, and the table refreshes on the event.
        return done(request, event="ruleAdded", next_url=_rules_url(workspace))
    context = {
        "nav": "acl",
        "workspace": workspace,
        "form": form,
        "action_url": reverse("acl:rule-add", args=[workspace.pk]),
        "title": f"Add a rule to {workspace.name}",
        "client_names": client_names(workspace),
    }
    return render_dialog(request, TEMPLATE, "rule", context, page="acl/page.html")


@require_http_methods(["GET", "POST"])
def rule_edit(request: AuthedRequest, workspace_id: int, rule_id: int) -> HttpResponse:
    rule = _rule(request, workspace_id, rule_id)
    require_change(request)
    form = RuleForm.for_rule(rule, request.POST or None)
    if request.method == "POST" and form.is_valid():
        rule.change(form.spec())
        return done(request, event="ruleChanged", next_url=_rules_url(rule.workspace))
    context = {
        "nav": "acl",
        "workspace": rule.workspace,
        "rule": rule,
        "form": form,
        "action_url": reverse("acl:rule-edit", args=[rule.workspace_id, rule.pk]),
        "title": f"Edit rule {rule.position + 1}",
        "client_names": client_names(rule.workspace),
    }
    return render_dialog(request, TEMPLATE, "rule", context, page="acl/page.html")


@require_http_methods(["POST"])
def rule_move(request: AuthedRequest, workspace_id: int, rule_id: int) -> HttpResponse:
    rule = _rule(request, workspace_id, rule_id)
    require_change(request)
    offsets = {"up": -1, "down": 1}
    if request.POST.get("direction") in offsets:
        rule.move(offsets[request.POST["direction"]])
    if wants_partial(request):
        response = render(request, f"{TEMPLATE}#rule-table", _page_context(request, rule.workspace))
        return trigger_client_event(response, "ruleMoved")
    return HttpResponseRedirect(_rules_url(rule.workspace))


@require_http_methods(["GET", "POST"])
def rule_delete(request: AuthedRequest, workspace_id: int, rule_id: int) -> HttpResponse:
    rule = _rule(request, workspace_id, rule_id)
    require_change(request)
    if request.method == "POST":
        rule.delete()
        return done(request, event="ruleDeleted", next_url=_rules_url(rule.workspace))
    context = {
        "nav": "acl",
        "workspace": rule.workspace,
        "rule": rule,
        "action_url": reverse("acl:rule-delete", args=[rule.workspace_id, rule.pk]),
        "title": f"Delete rule {rule.position + 1}?",
    }
    return render_dialog(request, TEMPLATE, "delete", context, page="acl/page.html")


@require_http_methods(["POST"])
def default(request: AuthedRequest, workspace_id: int) -> HttpResponse:
    workspace = _workspace(request, workspace_id)
    require_change(request)
    form = DefaultForm(request.POST)
    changed = form.is_valid()
    if changed:
        AclRule.objects.set_default(workspace, form.cleaned_data["default"])
    if not wants_partial(request):
        if changed:
            return HttpResponseRedirect(_rules_url(workspace))
        return render(request, TEMPLATE, _page_context(request, workspace, default_form=form))
    context = _page_context(request, workspace, default_form=form, default_saved=changed)
    response = render(request, f"{TEMPLATE}#default-form", context)
    return trigger_client_event(response, "defaultChanged") if changed else response


@require_http_methods(["GET", "POST"])
def simulate(request: AuthedRequest, workspace_id: int) -> HttpResponse:
    """Test access: what the broker would decide for this client, action and topic, and why.

    It changes nothing, so viewers may use it too."""
    workspace = _workspace(request, workspace_id)
    form = SimulatorForm(request.POST or None, workspace=workspace)
    decision = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        policy = AclRule.objects.load_policies([workspace.pk])[workspace.pk]
        decision = policy.check(
            username=data["username"], client_id=data["client_id"], action=data["action"], topic=data["topic"]
        )
    context = _page_context(request, workspace, simulator=form, decision=decision)
    username = form.cleaned_data.get("username", "") if decision is not None else ""
    if username and not MqttClient.objects.filter(workspace=workspace, username__iexact=username).exists():
        # The broker would refuse this login; say so rather than let "Allowed" mislead.
        context["unknown_simulated"] = username
    if wants_partial(request):
        return render(request, f"{TEMPLATE}#simulator", context)
    return render(request, TEMPLATE, context)


@require_http_methods(["GET", "POST"])
def remove_missing(request: AuthedRequest, workspace_id: int) -> HttpResponse:
    """One action for the rules that name a client the workspace does not have."""
    workspace = _workspace(request, workspace_id)
    require_change(request)
    missing = AclRule.objects.naming_missing_clients(workspace)
    if request.method == "POST":
        removed = AclRule.objects.remove_all(workspace, [r.pk for r in missing])
        return done(
            request,
            f"Removed {removed} rule{pluralize(removed)} naming missing clients.",
            event="ruleDeleted",
            next_url=_rules_url(workspace),
        )
    context = {
        "nav": "acl",
        "workspace": workspace,
        "missing": missing,
        "action_url": reverse("acl:remove-missing", args=[workspace.pk]),
        "title": "Remove rules naming missing clients?",
    }
    return render_dialog(request, TEMPLATE, "remove-missing", context, page="acl/page.html")
