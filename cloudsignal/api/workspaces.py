"""Workspaces: list, create, rename, delete (with their clients; never the default)."""

from typing import Any

from django.db import IntegrityError
from django.db.models import Count
from ninja import Router, Status

from clients import provisioning
from cloudsignal.api.auth import ApiRequest, require_admin
from cloudsignal.api.clients import ended_out
from cloudsignal.api.errors import Conflict, Invalid
from cloudsignal.api.responses import responses
from cloudsignal.api.schemas import WorkspaceDeleted, WorkspaceIn, WorkspaceOut
from workspaces.forms import WorkspaceForm
from workspaces.models import Workspace

router = Router(tags=["workspaces"])


def workspace_of(request: ApiRequest, workspace_id: int) -> Workspace:
    return Workspace.objects.get(organization=request.auth.organization, pk=workspace_id)


def workspace_out(workspace: Workspace) -> dict[str, Any]:
    clients = getattr(workspace, "client_count", None)
    return {
        "id": workspace.pk,
        "name": workspace.name,
        "is_default": workspace.is_default,
        "default_permission": workspace.default_permission,
        "clients": workspace.mqtt_clients.count() if clients is None else clients,
        "created": workspace.created,
    }


def save(request: ApiRequest, payload: WorkspaceIn, workspace: Workspace | None = None) -> Workspace:
    """The dashboard's form (and the command line's): the same checks and messages."""
    form = WorkspaceForm({"name": payload.name}, organization=request.auth.organization, workspace=workspace)
    if not form.is_valid():
        raise Invalid.of_form(form)
    try:
        return form.save()
    except IntegrityError:
        raise Invalid(
            {"name": [f"A workspace named {form.cleaned_data['name']!r} already exists."]}
        ) from None


@router.get("/workspaces", response=responses(list[WorkspaceOut]), summary="List workspaces")
def list_workspaces(request: ApiRequest) -> list[dict[str, Any]]:
    workspaces = Workspace.objects.in_org(request.auth.organization).annotate(
        client_count=Count("mqtt_clients")
    )
    return [workspace_out(w) for w in workspaces]


@router.post(
    "/workspaces",
    response=responses(WorkspaceOut, status=201, change=True),
    summary="Create a workspace",
)
def create_workspace(request: ApiRequest, payload: WorkspaceIn) -> Status:
    require_admin(request)
    return Status(201, workspace_out(save(request, payload)))


@router.patch(
    "/workspaces/{workspace_id}",
    response=responses(WorkspaceOut, change=True, lookup=True),
    summary="Rename a workspace",
)
def rename_workspace(request: ApiRequest, workspace_id: int, payload: WorkspaceIn) -> dict[str, Any]:
    workspace = workspace_of(request, workspace_id)
    require_admin(request)
    return workspace_out(save(request, payload, workspace))


@router.delete(
    "/workspaces/{workspace_id}",
    response=responses(WorkspaceDeleted, change=True, lookup=True, conflict=True),
    summary="Delete a workspace and its clients",
)
def delete_workspace(request: ApiRequest, workspace_id: int) -> dict[str, Any]:
    """Delete the workspace with every client in it; their live sessions have ended when this answers.
    The default workspace cannot be deleted (409)."""
    workspace = workspace_of(request, workspace_id)
    require_admin(request)
    if workspace.is_default:
        raise Conflict("The default workspace cannot be deleted.")
    usernames = list(workspace.mqtt_clients.order_by("username").values_list("username", flat=True))
    ended = provisioning.delete_workspace(workspace)
    return {"deleted": True, "clients_deleted": usernames, **ended_out(ended)}
