"""The audit trail, newest first, filtered as on the Audit log page and paged by id (`before`)."""

from typing import Any

from ninja import Field, Query, Router, Schema

from cloudsignal.api.auth import ApiRequest
from cloudsignal.api.responses import responses
from cloudsignal.api.schemas import AuditPage, Text
from workspaces import audit

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
    shown = audit.page(
        request.auth.organization,
        actor=filters.actor.strip(),
        action=filters.action.strip(),
        target_type=filters.target_type.strip(),
        target=filters.target.strip(),
        before=filters.before,
        size=filters.limit,
    )
    rows = shown.entries
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
        "next_before": rows[-1].pk if shown.has_older and rows else None,
    }
