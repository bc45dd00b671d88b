"""The Clients pages: list, create (with the copy-once reveal), detail, edit, reset password, delete.

Every dialog URL also renders as a full page, so the dashboard works without JavaScript and plain
test clients can drive it. The plaintext password appears only in the response to the POST that
made it (create or reset): never in a redirect, the session, messages, a URL or a log line.
"""

import csv
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.db.models import F, QuerySet
from django.db.models.functions import Lower
from django.http import HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from clients import credentials, engine, provisioning
from clients.engine import Session, SessionsEnded
from clients.forms import AccessCheckForm, ClientCreateForm, ClientEditForm, PasswordResetForm
from clients.models import AclRule, MqttClient
from workspaces.access import get_in_org, require_change
from workspaces.http import AuthedRequest, done, render_dialog, wants_partial
from workspaces.models import Workspace

CLIENTS_PER_PAGE = 50


# The sortable columns: ?sort=<key> ascending, ?sort=-<key> descending; ties by username.
SORTS: dict[str, Any] = {
    "username": Lower("username"),
    "workspace": Lower("workspace__name"),
    "status": F("enabled"),
    "last_seen": F("last_connected"),
    "created": F("created"),
}


def filtered_clients(request: AuthedRequest) -> tuple[QuerySet[MqttClient], dict[str, Any]]:
    """The organization's clients as the list's search, workspace filter and sort select them (the
    list and its CSV export agree), with what the page needs to show those choices."""
    organization = request.organization
    workspaces = list(Workspace.objects.in_org(organization))
    clients = MqttClient.objects.in_org(organization).select_related("workspace")
    query = request.GET.get("q", "").strip()
    if query:
        clients = clients.filter(username__icontains=query)
    selected_workspace = next((w for w in workspaces if str(w.pk) == request.GET.get("workspace")), None)
    if selected_workspace is not None:
        clients = clients.filter(workspace=selected_workspace)
    sort = request.GET.get("sort", "username")
    key = sort.removeprefix("-")
    if key not in SORTS:
        sort, key = "username", "username"
    column = SORTS[key]
    first = column.desc(nulls_last=True) if sort.startswith("-") else column.asc(nulls_first=True)
    ordering = [first, Lower("username"), "pk"]
    clients = clients.order_by(*ordering)
    choices = {
        "workspaces": workspaces,
        "query": query,
        "selected_workspace": selected_workspace,
        "sort": sort,
        "filtered": bool(query or selected_workspace),
    }
    return clients, choices


@require_GET
@vary_on_headers("HX-Request")
def client_list(request: AuthedRequest) -> HttpResponse:
    organization = request.organization
    clients, choices = filtered_clients(request)
    page = Paginator(clients, CLIENTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    # One query for the presence of the whole page, whatever its size.
    live_counts = engine.current().count_by_client(rows)
    for client in rows:
        client.live_count = live_counts.get(client.pk, 0)  # type: ignore[attr-defined]

    filters = request.GET.copy()
    filters.pop("page", None)
    unsorted = filters.copy()
    unsorted.pop("sort", None)
    context = {
        "nav": "clients",
        "page": page,
        "rows": rows,
        **choices,
        "columns": sort_columns(choices["sort"], unsorted.urlencode()),
        "filter_query": filters.urlencode(),
        "any_clients": bool(rows) or MqttClient.objects.in_org(organization).exists(),
    }
    template = "clients/list.html#client-table" if wants_partial(request) else "clients/list.html"
    return render(request, template, context)


def sort_columns(sort: str, base_query: str) -> dict[str, dict[str, str]]:
    """Each sortable column's link (the other direction when it is the current sort) and aria-sort."""
    columns = {}
    for key in SORTS:
        current = sort.removeprefix("-") == key
        descending = sort.startswith("-")
        wanted = f"-{key}" if current and not descending else key
        columns[key] = {
            "url": "?" + "&".join(filter(None, [base_query, f"sort={wanted}"])),
            "aria_sort": ("descending" if descending else "ascending") if current else "",
        }
    return columns


# Columns of the CSV export: what identifies and describes a credential, never its hash.
EXPORT_COLUMNS = [
    "username",
    "full_username",
    "workspace",
    "description",
    "enabled",
    "created",
    "last_connected",
    "password_changed",
]


@require_GET
def client_export(request: AuthedRequest) -> HttpResponse:
    """The list as filtered and sorted, as CSV: every matching client, not one page. No secret."""
    clients, _ = filtered_clients(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="clients.csv"'
    writer = csv.writer(response)
    writer.writerow(EXPORT_COLUMNS)
    for c in clients.iterator(chunk_size=2000):
        writer.writerow(
            [
                c.username,
                c.full_username,
                spreadsheet_safe(c.workspace.name),
                spreadsheet_safe(c.description),
                "yes" if c.enabled else "no",
                c.created.isoformat(),
                c.last_connected.isoformat() if c.last_connected else "",
                c.password_changed.isoformat(),
            ]
        )
    return response


def spreadsheet_safe(text: str) -> str:
    """Free text that a spreadsheet would run as a formula (=, +, -, @) starts with a quote instead."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@never_cache
@require_http_methods(["GET", "POST"])
def client_create(request: AuthedRequest) -> HttpResponse:
    require_change(request)
    organization = request.organization
    form = ClientCreateForm(request.POST or None, organization=organization)
    if request.method == "POST" and form.is_valid():
        try:
            client, password = provisioning.create_client(
                organization=organization,
                username=form.cleaned_data["username"],
                workspace=form.cleaned_data["workspace"],
                password=form.cleaned_data["password"],
                description=form.cleaned_data["description"],
                created_by=request.user,
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            response = reveal(request, client, password, title="Client created")
            return trigger_client_event(response, "clientCreated", {"id": client.pk})
    context = {"nav": "clients", "form": form}
    return render_dialog(request, "clients/create.html", "client-create", context)


def reveal(
    request: AuthedRequest,
    client: MqttClient,
    password: str,
    *,
    title: str,
    ended: SessionsEnded | None = None,
) -> HttpResponse:
    """The copy-once panel. Its response is the only place the plaintext password ever goes."""
    context = {"nav": "clients", "client": client, "password": password, "title": title, "ended": ended}
    template = "clients/reveal.html#client-reveal" if wants_partial(request) else "clients/reveal.html"
    return render(request, template, context)


def add_errors(form: Any, exc: ValidationError) -> None:
    """Put a provisioning ValidationError beside the fields it names."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@never_cache
@require_GET
def generate_password(request: AuthedRequest) -> HttpResponse:
    """A fresh password for the "Generate" button: the Password input, re-rendered with a new value."""
    require_change(request)
    form = PasswordResetForm(initial={"password": credentials.generate_password()})
    return render(request, "clients/password_input.html", {"field": form["password"]})


def client_of(request: AuthedRequest, pk: int) -> MqttClient:
    return get_in_org(request, MqttClient.objects.select_related("workspace", "organization"), pk=pk)


@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def client_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    client = client_of(request, pk)
    context = {
        "nav": "clients",
        "client": client,
        "sessions": live_sessions_of(client),
        **history_of(client),
        "throttles": engine.current().throttled(client.organization_id, client.username),
    }
    if wants_partial(request) and request.htmx.target == "client-facts":
        return render(request, "clients/detail.html#client-facts", context)
    context.update(rules_of(client, request.GET))
    if wants_partial(request) and request.htmx.target == "client-rules":
        return render(request, "clients/detail.html#client-rules", context)
    return render(request, "clients/detail.html", context)


def rules_of(client: MqttClient, query: Any) -> dict[str, Any]:
    """The workspace's ACL rules that apply to the client, in the order the broker checks them, and,
    for a topic typed in (?action=&topic=), the decision and the rule that makes it."""
    rules = [
        (number, rule)
        for number, rule in enumerate(AclRule.objects.in_workspace(client.workspace), start=1)
        if rule.applies_to(client.username)
    ]
    form = AccessCheckForm(query if "topic" in query else None)
    decision = None
    if form.is_bound and form.is_valid():
        policy = AclRule.objects.load_policies([client.workspace_id])[client.workspace_id]
        decision = policy.check(
            username=client.username,
            client_id=form.cleaned_data["client_id"] or client.username,
            action=form.cleaned_data["action"],
            topic=form.cleaned_data["topic"],
        )
    return {"rules": rules, "check_form": form, "decision": decision}


def live_sessions_of(client: MqttClient) -> list[Session]:
    return engine.current().live_sessions(client.organization, client)


# Enough to see a pattern; older connections are pruned after CONNECTION_HISTORY_DAYS anyway.
HISTORY_SHOWN = 50


def history_of(client: MqttClient) -> dict[str, Any]:
    records = list(client.connection_records.all()[:HISTORY_SHOWN])
    for record in records:
        record.duration_text = _duration(record.duration)  # type: ignore[attr-defined]
    return {"history": records, "history_days": settings.CONNECTION_HISTORY_DAYS}


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds // 60 % 60} min"


@require_GET
def client_history(request: AuthedRequest, pk: int) -> HttpResponse:
    """The detail page's recent connections, refreshed by htmx."""
    client = client_of(request, pk)
    return render(request, "clients/detail.html#client-history", {"client": client, **history_of(client)})


@require_GET
def client_throttle(request: AuthedRequest, pk: int) -> HttpResponse:
    """The detail page's throttle panel, refreshed after a Clear."""
    client = client_of(request, pk)
    throttles = engine.current().throttled(client.organization_id, client.username)
    context = {"client": client, "throttles": throttles}
    return render(request, "clients/detail.html#client-throttle", context)


@require_GET
def client_sessions(request: AuthedRequest, pk: int) -> HttpResponse:
    """The detail page's live sessions, polled by htmx so they stay current without a reload."""
    client = client_of(request, pk)
    context = {"client": client, "sessions": live_sessions_of(client)}
    return render(request, "clients/detail.html#client-sessions", context)


@require_http_methods(["GET", "POST"])
def client_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    client = client_of(request, pk)
    require_change(request)
    form = ClientEditForm(request.POST or None, client=client)
    if request.method == "POST" and form.is_valid():
        try:
            ended = client.update(**form.changes())
        except ValidationError as exc:
            # update() checks what creation checks (a username taken, a bad workspace).
            add_errors(form, exc)
        except IntegrityError:
            # Another admin took the username between update()'s check and its save.
            form.add_error("username", "A client with this username already exists in this organization.")
        else:
            return done(
                request,
                "Client saved.",
                ended,
                event="clientChanged",
                event_detail={"id": client.pk},
                next_url=reverse("clients:detail", args=[client.pk]),
            )
    context = {"nav": "clients", "client": client, "form": form}
    return render_dialog(request, "clients/edit.html", "client-edit", context)


@never_cache
@require_http_methods(["GET", "POST"])
def client_reset_password(request: AuthedRequest, pk: int) -> HttpResponse:
    client = client_of(request, pk)
    require_change(request)
    form = PasswordResetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            password, ended = provisioning.reset_password(client, form.cleaned_data["password"])
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            response = reveal(request, client, password, title="Password reset", ended=ended)
            return trigger_client_event(response, "passwordReset", {"id": client.pk})
    context = {"nav": "clients", "client": client, "form": form}
    return render_dialog(request, "clients/reset_password.html", "client-reset-password", context)


@require_http_methods(["GET", "POST"])
def client_delete(request: AuthedRequest, pk: int) -> HttpResponse:
    client = client_of(request, pk)
    require_change(request)
    if request.method == "POST":
        name = client.full_username
        ended, removed = provisioning.delete_client(
            client, remove_rules=bool(request.POST.get("remove_rules"))
        )
        message = f"Deleted {name}."
        if removed:
            message += f" Removed {removed} ACL rule{pluralize(removed)} naming it."
        return done(
            request,
            message,
            ended,
            event="clientDeleted",
            next_url=reverse("clients:list"),
            navigate=True,
        )
    context = {
        "nav": "clients",
        "client": client,
        "live_count": len(live_sessions_of(client)),
        "rule_count": AclRule.objects.naming(client.workspace, client.username).count(),
    }
    return render_dialog(request, "clients/delete.html", "client-delete", context)
