"""Scripted provisioning, on the dashboard's code paths (clients.provisioning and the model verbs):

    manage.py clients create --org ORG_ID [--workspace NAME] USERNAME
    manage.py clients list --org ORG_ID
    manage.py clients reset-password|disable|enable|delete FULL_USERNAME

Each takes --json. A new password is printed once and kept nowhere. Errors go to stderr with a
non-zero exit, and change nothing.
"""

import json
from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from clients import provisioning
from clients.engine import SessionsEnded
from clients.models import MqttClient
from workspaces.cli import organization_by_id, workspace_by_name
from workspaces.models import Organization

VERBS = ("reset-password", "disable", "enable", "delete")


class Command(BaseCommand):
    help = "Create, list, reset, disable, enable or delete MQTT clients."

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(
            dest="command", required=True, metavar="{create,list," + ",".join(VERBS) + "}"
        )
        create = commands.add_parser("create", help="Create a client and print its password once.")
        create.add_argument("username", metavar="USERNAME")
        create.add_argument("--org", required=True, metavar="ORG_ID", help="The Organization ID.")
        create.add_argument(
            "--workspace", metavar="NAME", help="Workspace name (default: the default workspace)."
        )
        create.add_argument("--description", default="")
        listing = commands.add_parser("list", help="List an organization's clients.")
        listing.add_argument("--org", required=True, metavar="ORG_ID", help="The Organization ID.")
        subs = [create, listing]
        for verb in VERBS:
            sub = commands.add_parser(verb, help=f"{verb.capitalize()} the client USERNAME@ORG_ID.")
            sub.add_argument("full_username", metavar="FULL_USERNAME", help="username@organization_id")
            subs.append(sub)
        for sub in subs:
            sub.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        self.as_json = options["json"]
        command = options["command"]
        if command == "create":
            self.create(options)
        elif command == "list":
            self.list(organization_by_id(options["org"]))
        else:
            self.change(command, client_by_full_username(options["full_username"]))

    def create(self, options: dict[str, Any]) -> None:
        organization = organization_by_id(options["org"])
        workspace = workspace_by_name(organization, options["workspace"]) if options["workspace"] else None
        try:
            client, password = provisioning.create_client(
                organization=organization,
                username=options["username"],
                workspace=workspace,
                description=options["description"],
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.emit(
            {**describe(client), "password": password},
            f"Created {client.full_username} in workspace {client.workspace.name}.\n"
            f"Full username: {client.full_username}\nPassword: {password}\n"
            "Copy the password now. It won't be shown again.",
        )

    def list(self, organization: Organization) -> None:
        clients = MqttClient.objects.in_org(organization).select_related("workspace").order_by("username")
        if self.as_json:
            self.stdout.write(json.dumps([describe(c) for c in clients]))
            return
        for c in clients:
            status = "enabled" if c.enabled else "disabled"
            self.stdout.write(f"{c.full_username}  {c.workspace.name}  {status}")

    def change(self, command: str, client: MqttClient) -> None:
        name = client.full_username
        if command == "reset-password":
            password, ended = provisioning.reset_password(client)
            self.emit(
                {**describe(client), "password": password, **sessions(ended)},
                f"New password for {name}: {password}\nCopy the password now. It won't be shown again.\n"
                + ended.describe(),
            )
            return
        if command == "delete":
            summary = describe(client)
            ended = client.delete()
            self.emit({**summary, "deleted": True, **sessions(ended)}, f"Deleted {name}. {ended.describe()}")
            return
        ended = client.disable() if command == "disable" else client.enable()
        self.emit(
            {**describe(client), **sessions(ended)}, f"{command.capitalize()}d {name}. {ended.describe()}"
        )

    def emit(self, payload: dict[str, Any], text: str) -> None:
        self.stdout.write(json.dumps(payload) if self.as_json else text.strip())


def client_by_full_username(full_username: str) -> MqttClient:
    username, at, org_id = full_username.strip().rpartition("@")
    if not at or not username:
        raise CommandError(f"{full_username!r} is not a full username; give it as username@organization_id.")
    organization = organization_by_id(org_id)
    client = MqttClient.objects.by_username(organization.pk, username).select_related("workspace").first()
    if client is None:
        raise CommandError(f"No client {username!r} in {organization.name}.")
    return client


def describe(client: MqttClient) -> dict[str, Any]:
    return {
        "username": client.username,
        "full_username": client.full_username,
        "organization_id": str(client.organization_id),
        "workspace": client.workspace.name,
        "enabled": client.enabled,
        "description": client.description,
        "created": client.created.isoformat(),
    }


def sessions(ended: SessionsEnded) -> dict[str, Any]:
    """What the broker said it ended; null when the broker was not reached."""
    return {
        "sessions_ended": ended.count if ended.broker_reachable else None,
        "broker_reachable": ended.broker_reachable,
    }
