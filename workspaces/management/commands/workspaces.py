"""`manage.py workspaces create NAME --org ORG_ID` and `workspaces list --org ORG_ID`."""

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from workspaces.cli import form_errors, organization_by_id
from workspaces.forms import WorkspaceForm
from workspaces.models import Workspace


class Command(BaseCommand):
    help = "Create or list an organization's workspaces."

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True, metavar="{create,list}")
        create = commands.add_parser("create", help="Create a workspace.")
        create.add_argument("name", metavar="NAME")
        listing = commands.add_parser("list", help="List workspaces with their client counts.")
        for sub in (create, listing):
            sub.add_argument("--org", required=True, metavar="ORG_ID", help="The Organization ID.")
            sub.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = organization_by_id(options["org"])
        if options["command"] == "create":
            # The dashboard's form: the same name rules and the same messages.
            form = WorkspaceForm({"name": options["name"]}, organization=organization)
            if not form.is_valid():
                raise CommandError(form_errors(form))
            workspace = form.save()
            if options["json"]:
                self.stdout.write(json.dumps(describe(workspace, 0)))
            else:
                self.stdout.write(f"Created workspace {workspace.name} in {organization.name}.")
            return
        workspaces = Workspace.objects.in_org(organization).annotate(client_count=Count("mqtt_clients"))
        if options["json"]:
            self.stdout.write(json.dumps([describe(w, w.client_count) for w in workspaces]))
            return
        for w in workspaces:
            default = " (default)" if w.is_default else ""
            self.stdout.write(
                f"{w.name}{default}: {w.client_count} client{'' if w.client_count == 1 else 's'}"
            )


def describe(workspace: Workspace, client_count: int) -> dict[str, object]:
    return {
        "id": workspace.pk,
        "name": workspace.name,
        "is_default": workspace.is_default,
        "clients": client_count,
    }
