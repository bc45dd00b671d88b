"""`manage.py apikeys create|list|revoke --org ORG_ID ... [--json]`: Settings → API keys from the
command line. `create` prints the key once; only its hash is kept."""

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from workspaces import apikeys
from workspaces.apikey_forms import ApiKeyForm
from workspaces.cli import form_errors, organization_by_id
from workspaces.models import ApiKey, Organization


def describe(key: ApiKey) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": key.pk,
        "name": key.name,
        "prefix": key.prefix,
        "role": key.role,
        "state": key.state,
        "created_by": key.created_by.email if key.created_by else key.created_by_label,
        "created": when(key.created),
        "last_used": when(key.last_used),
        "expires": when(key.expires),
        "revoked": when(key.revoked),
    }


def key_in(organization: Organization, which: str) -> ApiKey:
    """A key by its id or its prefix, as `apikeys list` shows them."""
    keys = ApiKey.objects.in_org(organization)
    found = keys.filter(pk=int(which)).first() if which.isdigit() else keys.filter(prefix=which).first()
    if found is None:
        raise CommandError(
            f"No API key {which!r} in {organization.name}. List them with: manage.py apikeys list"
        )
    return found


class Command(BaseCommand):
    help = "Create (printing the key once), list or revoke API keys."

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True, metavar="{create,list,revoke}")
        create = commands.add_parser("create", help="Create a key and print it once.")
        create.add_argument("--name", required=True)
        create.add_argument("--role", required=True, choices=ApiKey.Role.values)
        create.add_argument("--expires-days", type=int, metavar="N", help="Default: never expires.")
        listing = commands.add_parser("list", help="List keys: prefix, role, created, last used, expiry.")
        revoke = commands.add_parser("revoke", help="Revoke a key at once.")
        revoke.add_argument("key", metavar="ID_OR_PREFIX")
        for sub in (create, listing, revoke):
            sub.add_argument("--org", required=True, metavar="ORG_ID", help="The Organization ID.")
            sub.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = organization_by_id(options["org"])
        as_json = options["json"]
        if options["command"] == "create":
            form = ApiKeyForm(
                {"name": options["name"], "role": options["role"], "expires_days": options["expires_days"]}
            )
            if not form.is_valid():
                raise CommandError(form_errors(form))
            api_key, key = apikeys.create(
                organization=organization,
                name=form.cleaned_data["name"],
                role=form.cleaned_data["role"],
                expires_days=form.cleaned_data["expires_days"],
            )
            if as_json:
                self.stdout.write(json.dumps({**describe(api_key), "key": key}))
            else:
                self.stdout.write(
                    f"Created API key {api_key.name} ({api_key.get_role_display()}).\nKey: {key}\n"
                    "Copy the key now. It won't be shown again."
                )
        elif options["command"] == "list":
            keys = [describe(k) for k in ApiKey.objects.in_org(organization).select_related("created_by")]
            if as_json:
                self.stdout.write(json.dumps(keys))
            for k in [] if as_json else keys:
                self.stdout.write(
                    f"{k['id']}  {k['prefix']}…  {k['name']}  {k['role']}  {k['state']}  "
                    f"last used {k['last_used'] or 'never'}  expires {k['expires'] or 'never'}"
                )
        else:
            api_key = key_in(organization, options["key"])
            apikeys.revoke(api_key)
            api_key.refresh_from_db()
            if as_json:
                self.stdout.write(json.dumps(describe(api_key)))
            else:
                self.stdout.write(f"Revoked API key {api_key}.")
