"""Clients: list, create, read, update, reset password, delete; a client's live sessions and
disconnecting them. Validation is the dashboard's forms', the changes are clients.provisioning's and
the model's verbs, so the messages, the revocation and the audit entries are the dashboard's."""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import IntegrityError
from ninja import Field, Query, Router, Schema, Status

from clients import credentials, engine, provisioning
from clients.engine import Session, SessionsEnded
from clients.forms import ClientCreateForm, ClientEditForm, PasswordResetForm
from clients.models import MqttClient
from cloudsignal.api.auth import ApiRequest, require_admin
from cloudsignal.api.errors import Invalid
from cloudsignal.api.responses import responses
from cloudsignal.api.schemas import (
    ClientChanged,
    ClientCreated,
    ClientCreateIn,
    ClientOut,
    ClientPage,
    ClientUpdateIn,
    Deleted,
    PasswordReset,
    PasswordResetIn,
    SessionOut,
    SessionsEndedOut,
    Text,
)

router = Router(tags=["clients"])

TAKEN = "A client with this username already exists in this organization."


class ClientFilters(Schema):
    search: Text = Field("", description="Part of the username, any case.")
    workspace_id: int | None = None
    page: int = Field(1, ge=1)
    page_size: int = Field(50, ge=1, le=200)


def client_of(request: ApiRequest, client_id: int) -> MqttClient:
    """The key's organization's client, or 404 (whether another organization has it or not)."""
    return MqttClient.objects.select_related("workspace", "organization").get(
        organization=request.auth.organization, pk=client_id
    )


def live_count(client: MqttClient) -> int:
    return engine.current().count_by_client([client]).get(client.pk, 0)


def client_out(client: MqttClient, live: int | None = None) -> dict[str, Any]:
    return {
        "id": client.pk,
        "username": client.username,
        "full_username": client.full_username,
        "organization_id": str(client.organization_id),
        "workspace": {"id": client.workspace_id, "name": client.workspace.name},
        "description": client.description,
        "enabled": client.enabled,
        "created": client.created,
        "updated": client.updated,
        "password_changed": client.password_changed,
        "last_connected": client.last_connected,
        "live_sessions": live_count(client) if live is None else live,
    }


def ended_out(ended: SessionsEnded | None) -> dict[str, Any]:
    """What the broker ended; a change that did not need the broker ended nothing and asked nobody."""
    if ended is None or not ended.sent:
        return {"sessions_ended": 0, "broker_reachable": None}
    return {
        "sessions_ended": ended.count if ended.broker_reachable else None,
        "broker_reachable": ended.broker_reachable,
    }


def session_out(session: Session) -> dict[str, Any]:
    return {
        "id": session.pk,
        "client_id": session.client_id,
        "client_username": session.client.username,
        "mqtt_client_id": session.mqtt_client_id,
        "remote_address": session.remote_address,
        "listener": session.listener,
        "connected_since": session.connected_since,
    }


@router.get("/clients", response=responses(ClientPage), summary="List clients")
def list_clients(request: ApiRequest, filters: Query[ClientFilters]) -> dict[str, Any]:
    """The organization's clients by username, a page at a time; `search` matches part of the
    username, `workspace_id` keeps one workspace's."""
    clients = (
        MqttClient.objects.in_org(request.auth.organization).select_related("workspace").order_by("username")
    )
    if filters.search.strip():
        clients = clients.filter(username__icontains=filters.search.strip())
    if filters.workspace_id is not None:
        clients = clients.filter(workspace_id=filters.workspace_id)
    paginator = Paginator(clients, filters.page_size)
    page = paginator.get_page(filters.page)
    rows = list(page.object_list)
    live = engine.current().count_by_client(rows)
    return {
        "items": [client_out(c, live.get(c.pk, 0)) for c in rows],
        "count": paginator.count,
        "page": page.number,
        "pages": paginator.num_pages,
    }


@router.post(
    "/clients", response=responses(ClientCreated, status=201, change=True), summary="Create a client"
)
def create_client(request: ApiRequest, payload: ClientCreateIn) -> Status:
    """A new client. Its password is in this response only: copy it now."""
    require_admin(request)
    organization = request.auth.organization
    generated = payload.password is None
    data = {
        "username": payload.username,
        "password": credentials.generate_password() if generated else payload.password,
        "workspace": payload.workspace_id or organization.default_workspace.pk,
        "description": payload.description,
    }
    form = ClientCreateForm(data, organization=organization)
    if not form.is_valid():
        raise Invalid.of_form(form, {"workspace": "workspace_id"})
    try:
        client, password = provisioning.create_client(
            organization=organization,
            username=form.cleaned_data["username"],
            workspace=form.cleaned_data["workspace"],
            password=form.cleaned_data["password"],
            description=form.cleaned_data["description"],
        )
    except ValidationError as exc:
        raise Invalid.of(exc, {"workspace": "workspace_id"}) from None
    except IntegrityError:
        # Another request took the username between the check and the insert.
        raise Invalid({"username": [TAKEN]}) from None
    return Status(201, {**client_out(client, 0), "password": password})


@router.get("/clients/{client_id}", response=responses(ClientOut, lookup=True), summary="Read a client")
def read_client(request: ApiRequest, client_id: int) -> dict[str, Any]:
    return client_out(client_of(request, client_id))


@router.patch(
    "/clients/{client_id}",
    response=responses(ClientChanged, change=True, lookup=True),
    summary="Update a client",
)
def update_client(request: ApiRequest, client_id: int, payload: ClientUpdateIn) -> dict[str, Any]:
    """Change the username, workspace, description or enabled; only the fields given. Renaming, moving
    and disabling end the client's live sessions, and the answer says how many."""
    client = client_of(request, client_id)
    require_admin(request)
    given = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    data = {
        "username": given.get("username", client.username),
        "workspace": given.get("workspace_id", client.workspace_id),
        "description": given.get("description", client.description),
        "enabled": given.get("enabled", client.enabled),
    }
    form = ClientEditForm(data, client=client)
    if not form.is_valid():
        raise Invalid.of_form(form, {"workspace": "workspace_id"})
    try:
        ended = client.update(**form.changes())
    except ValidationError as exc:
        raise Invalid.of(exc, {"workspace": "workspace_id"}) from None
    except IntegrityError:
        raise Invalid({"username": [TAKEN]}) from None
    client.refresh_from_db()
    return {**client_out(client), **ended_out(ended)}


@router.post(
    "/clients/{client_id}/reset-password",
    response=responses(PasswordReset, change=True, lookup=True),
    summary="Reset a client's password",
)
def reset_password(request: ApiRequest, client_id: int, payload: PasswordResetIn) -> dict[str, Any]:
    """A new password (generated unless given), in this response only; the client's live sessions end."""
    client = client_of(request, client_id)
    require_admin(request)
    form = PasswordResetForm(
        {"password": credentials.generate_password() if payload.password is None else payload.password}
    )
    if not form.is_valid():
        raise Invalid.of_form(form)
    password, ended = provisioning.reset_password(client, form.cleaned_data["password"])
    return {**client_out(client), "password": password, **ended_out(ended)}


@router.delete(
    "/clients/{client_id}",
    response=responses(Deleted, change=True, lookup=True),
    summary="Delete a client",
)
def delete_client(request: ApiRequest, client_id: int) -> dict[str, Any]:
    """Delete the client; its live sessions have ended when this answers, and it says how many."""
    client = client_of(request, client_id)
    require_admin(request)
    return {"deleted": True, **ended_out(client.delete())}


@router.get(
    "/clients/{client_id}/sessions",
    response=responses(list[SessionOut], lookup=True),
    summary="A client's live sessions",
)
def client_sessions(request: ApiRequest, client_id: int) -> list[dict[str, Any]]:
    client = client_of(request, client_id)
    return [session_out(s) for s in engine.current().live_sessions(client.organization, client)]


@router.post(
    "/clients/{client_id}/disconnect",
    response=responses(SessionsEndedOut, change=True, lookup=True),
    summary="Disconnect all of a client's sessions",
)
def disconnect_client(request: ApiRequest, client_id: int) -> dict[str, Any]:
    """Drop every live session of the client now (a plain kick: its devices may reconnect)."""
    client = client_of(request, client_id)
    require_admin(request)
    outcomes = [engine.disconnect(s) for s in engine.current().live_sessions(client.organization, client)]
    if not outcomes:
        return ended_out(None)
    reachable = all(ended.broker_reachable for ended in outcomes)
    total = sum(ended.count or 0 for ended in outcomes)
    return {"sessions_ended": total if reachable else None, "broker_reachable": reachable}
