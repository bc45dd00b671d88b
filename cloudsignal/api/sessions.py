"""The organization's live MQTT sessions, and disconnecting one (as the Sessions page does)."""

from typing import Any

from django.core.paginator import Paginator
from django.http import Http404
from ninja import Field, Query, Router, Schema

from clients import engine
from cloudsignal.api.auth import ApiRequest, require_admin
from cloudsignal.api.clients import ended_out, session_out
from cloudsignal.api.responses import responses
from cloudsignal.api.schemas import SessionPage, SessionsEndedOut

router = Router(tags=["sessions"])


class Paging(Schema):
    page: int = Field(1, ge=1)
    page_size: int = Field(100, ge=1, le=500)


def live_sessions(request: ApiRequest) -> list[engine.Session]:
    return engine.current().live_sessions(request.auth.organization)


@router.get("/sessions", response=responses(SessionPage), summary="List live sessions")
def list_sessions(request: ApiRequest, paging: Query[Paging]) -> dict[str, Any]:
    """Every live MQTT session of the organization, newest first."""
    paginator = Paginator(live_sessions(request), paging.page_size)
    page = paginator.get_page(paging.page)
    return {
        "items": [session_out(s) for s in page.object_list],
        "count": paginator.count,
        "page": page.number,
        "pages": paginator.num_pages,
    }


@router.post(
    "/sessions/{session_id}/disconnect",
    response=responses(SessionsEndedOut, change=True, lookup=True),
    summary="Disconnect a session",
)
def disconnect_session(request: ApiRequest, session_id: int) -> dict[str, Any]:
    """Drop this connection now (a plain kick: the device may reconnect)."""
    session = next((s for s in live_sessions(request) if s.pk == session_id), None)
    if session is None:
        raise Http404("No such live session.")
    require_admin(request)
    return ended_out(engine.disconnect(session))
