"""The audit trail, newest first, filtered as on the Audit log page and paged by id (`before`)."""

from typing import Any

from django.db.models import Q
from ninja import Field, Query, Router, Schema

from cloudsignal.api.auth import ApiRequest
from cloudsignal.api.responses import responses
from cloudsignal.api.schemas import AuditPage, Text
from workspaces.models import AuditEntry

router = Router(tags=["audit"])


class AuditFilters(Schema):
    actor: Text = Field("", description="Exactly as shown, such as ops@acme.example or cli:deploy.")
    action: Text = Field("", description="Such as client.created or apikey.revoked.")
    target_type: Text = Field("", description="client, workspace, rule, session, member, apikey, ...")
    target: Text = Field("", description="The target's id or its name as it was.")
    before: int | None = Field(
        None, description="Entries older than this id: the previous page's next_before."
    )
    limit: int = Field(50, ge=1, le=500)


@router.get("/audit", response=responses(AuditPage), summary="Read the audit trail")
def audit_trail(request: ApiRequest, filters: Query[AuditFilters]) -> dict[str, Any]:
    entries = AuditEntry.objects.in_org(request.auth.organization)
    for name in ("actor", "action", "target_type"):
        if value := getattr(filters, name).strip():
            entries = entries.filter(**{name: value})
    if target := filters.target.strip():
        entries = entries.filter(Q(target_id=target) | Q(target_name=target))
    if filters.before is not None:
        entries = entries.filter(id__lt=filters.before)
    rows = list(entries.order_by("-id")[: filters.limit + 1])
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    return {
        "items": [
            {
                "id": e.pk,
                "created": e.created,
                "actor": e.actor,
                "actor_kind": e.actor_kind,
                "source_address": e.source_address,
                "action": e.action,
                "target_type": e.target_type,
                "target_id": e.target_id,
                "target_name": e.target_name,
                "details": e.details,
            }
            for e in rows
        ],
        "next_before": rows[-1].pk if more and rows else None,
    }
