"""A workspace's ACL as policy as code (the JSON of `manage.py acl export|import`), and the access
simulator of the ACL page ("may this client publish to this topic?", with the deciding rule)."""

from typing import Any

from ninja import Router

from acl.language import InvalidRule, parse_policy
from clients.acl.forms import SimulatorForm
from clients.models import AclRule
from cloudsignal.api.auth import ApiRequest, require_admin
from cloudsignal.api.errors import Invalid
from cloudsignal.api.responses import responses
from cloudsignal.api.schemas import AccessCheckIn, AccessDecision, PolicyIn, PolicyOut
from cloudsignal.api.workspaces import workspace_of

router = Router(tags=["acl"])


@router.get(
    "/workspaces/{workspace_id}/acl",
    response=responses(PolicyOut, lookup=True),
    summary="Read a workspace's ACL",
)
def read_policy(request: ApiRequest, workspace_id: int) -> dict[str, Any]:
    return AclRule.objects.export_policy(workspace_of(request, workspace_id))


@router.put(
    "/workspaces/{workspace_id}/acl",
    response=responses(PolicyOut, change=True, lookup=True),
    summary="Replace a workspace's ACL",
)
def replace_policy(request: ApiRequest, workspace_id: int, payload: PolicyIn) -> dict[str, Any]:
    """Replace the default and every rule at once. Everything is checked first: one bad rule changes
    nothing, and the error names it (`rules[0].topic` is the first rule's topic)."""
    workspace = workspace_of(request, workspace_id)
    require_admin(request)
    try:
        default, specs = parse_policy(payload.dict())
        AclRule.objects.replace_policy(workspace, default, specs)
    except InvalidRule as exc:
        # The command line's message ("rule 2: topic: ..."), and each field by its place in the list.
        fields: dict[str | None, list[str]] = {
            f"rules[{exc.index - 1}].{name}": [why] for name, why in exc.problems.items()
        }
        raise Invalid(fields, detail=f"{str(exc).rstrip('.')}. Nothing was changed.") from None
    except ValueError as exc:
        raise Invalid({None: [str(exc)]}) from None
    return AclRule.objects.export_policy(workspace)


@router.post(
    "/workspaces/{workspace_id}/acl/check",
    response=responses(AccessDecision, lookup=True),
    summary="Test access",
)
def check_access(request: ApiRequest, workspace_id: int, payload: AccessCheckIn) -> dict[str, Any]:
    """What the broker would decide for this client, action and topic, and which rule decides. It
    changes nothing, so viewer keys may use it too."""
    workspace = workspace_of(request, workspace_id)
    form = SimulatorForm(payload.dict(), workspace=workspace)
    if not form.is_valid():
        raise Invalid.of_form(form)
    data = form.cleaned_data
    policy = AclRule.objects.load_policies([workspace.pk])[workspace.pk]
    decision = policy.check(
        username=data["username"], client_id=data["client_id"], action=data["action"], topic=data["topic"]
    )
    return {"allowed": decision.allowed, "reason": decision.reason, "rule_id": decision.rule_id}
