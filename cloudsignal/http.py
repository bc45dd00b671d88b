"""The request our views receive, typed: after the middleware, every signed-in request knows its
organization and the user's membership in it."""

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from workspaces.models import Membership, Organization


class AuthedRequest(HttpRequest):
    user: User
    htmx: HtmxDetails
    organization: Organization
    membership: Membership


class HtmxRequest(HttpRequest):
    htmx: HtmxDetails
