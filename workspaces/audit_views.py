"""Settings → Audit log: newest first, filtered by actor, action and target, paged by id (keyset) so
the hundredth thousand entry costs what the first does."""

from urllib.parse import urlencode

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from workspaces import audit
from workspaces.audit import ACTIONS
from workspaces.http import AuthedRequest, wants_partial

ENTRIES_PER_PAGE = 50
TARGET_TYPES = [
    "account",
    "apikey",
    "client",
    "invitation",
    "member",
    "organization",
    "rule",
    "session",
    "workspace",
]


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def describe(key: str, value: object) -> str:
    """One line of an entry's details: "role: viewer → admin" for a change, "key: value" otherwise."""
    if isinstance(value, list) and len(value) == 2:
        old, new = ("—" if v in (None, "") else v for v in value)
        return f"{key}: {old} → {new}"
    return f"{key}: {value}"


@require_GET
@vary_on_headers("HX-Request")
def audit_log(request: AuthedRequest) -> HttpResponse:
    filters = {key: request.GET.get(key, "").strip() for key in ("actor", "action", "target_type", "target")}
    shown = audit.page(
        request.organization,
        **filters,
        before=_int(request.GET.get("before")),
        after=_int(request.GET.get("after")),
        size=ENTRIES_PER_PAGE,
    )
    rows = shown.entries
    for entry in rows:
        entry.action_label = ACTIONS.get(entry.action, entry.action)  # type: ignore[attr-defined]
        entry.detail_lines = [describe(key, value) for key, value in entry.details.items()]  # type: ignore[attr-defined]
    query = urlencode({key: value for key, value in filters.items() if value})
    context = {
        "nav": "settings",
        "tab": "audit",
        "entries": rows,
        "filters": filters,
        "actions": ACTIONS,
        "target_types": TARGET_TYPES,
        "older": rows[-1].pk if shown.has_older and rows else None,
        "newer": rows[0].pk if shown.has_newer and rows else None,
        "filter_query": query,
        "filtered": any(filters.values()),
        "audit_url": reverse("workspaces:audit"),
    }
    template = "workspaces/audit.html#audit-table" if wants_partial(request) else "workspaces/audit.html"
    return render(request, template, context)
