"""Who may see and change what. Every object lookup in a view goes through here.

Objects of another organization are 404, never 403: an outsider must not learn that they exist.
Members without change rights get 403 on every change.
"""

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest

from workspaces.models import Membership, Organization


def organization_of(request: HttpRequest) -> Organization:
    return request.organization  # type: ignore[attr-defined]


def membership_of(request: HttpRequest) -> Membership:
    return request.membership  # type: ignore[attr-defined]


def get_in_org[M: Model](request: HttpRequest, queryset: QuerySet[M], **lookup: object) -> M:
    """The object matching `lookup` inside the request's organization, or 404."""
    try:
        return queryset.filter(organization=organization_of(request)).get(**lookup)
    except (ObjectDoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None


def require_change(request: HttpRequest) -> None:
    if not membership_of(request).can_change:
        raise PermissionDenied("Viewers can look but not change anything.")


def require_owner(request: HttpRequest) -> None:
    if not membership_of(request).is_owner:
        raise PermissionDenied("Only owners can do this.")
