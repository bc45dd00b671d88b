"""`manage.py organizations create NAME --owner EMAIL` and `organizations list`, for scripted set-up."""

import json
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from workspaces.cli import form_errors
from workspaces.forms import OrganizationForm
from workspaces.models import Organization
from workspaces.onboarding import create_organization, find_or_create_user, set_password_path


def set_password_link(user: Any) -> str:
    """The dashboard's full address of the owner's one-time set-password page."""
    return settings.DASHBOARD_URL + set_password_path(user)


class Command(BaseCommand):
    help = "Create or list organizations."

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True, metavar="{create,list}")
        create = commands.add_parser("create", help="Create an organization with its default workspace.")
        create.add_argument("name", metavar="NAME")
        create.add_argument(
            "--owner", required=True, metavar="EMAIL", help="The owner's email (made if new)."
        )
        listing = commands.add_parser("list", help="List organizations with their IDs.")
        for sub in (create, listing):
            sub.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["command"] == "create":
            self.create(options["name"], options["owner"], as_json=options["json"])
        else:
            self.list(as_json=options["json"])

    def create(self, name: str, email: str, *, as_json: bool) -> None:
        form = OrganizationForm({"name": name})
        if not form.is_valid():
            raise CommandError(form_errors(form))
        try:
            validate_email(email.strip())
        except ValidationError:
            raise CommandError(f"{email!r} is not an email address.") from None
        with transaction.atomic():
            owner = find_or_create_user(email)
            organization = create_organization(owner=owner, name=form.cleaned_data["name"])
        if as_json:
            payload = {"id": str(organization.pk), "name": organization.name, "owner": owner.email}
            if not owner.has_usable_password():
                payload["set_password_link"] = set_password_link(owner)
            self.stdout.write(json.dumps(payload))
            return
        self.stdout.write(f"Created {organization.name}.\nOrganization ID: {organization.pk}")
        if not owner.has_usable_password():
            self.stdout.write(
                f"{owner.email} has no password yet. This link lets them choose one; it is shown once "
                f"and stops working once used:\n{set_password_link(owner)}"
            )

    def list(self, *, as_json: bool) -> None:
        organizations = list(Organization.objects.order_by("name"))
        if as_json:
            self.stdout.write(json.dumps([{"id": str(o.pk), "name": o.name} for o in organizations]))
            return
        for organization in organizations:
            self.stdout.write(f"{organization.pk}  {organization.name}")
