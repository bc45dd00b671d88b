"""Policy as code: `manage.py acl export|import --org ORG_ID --workspace NAME [FILE]`.

The format is the one AclRule.objects.export_policy() writes and acl.language.parse_policy() reads:
{"default": "allow"|"deny", "rules": [{"client": ..., "action": ..., "topic": ..., "permission": ...}]}
An import replaces the workspace's default and rules at once, after validating all of them: a bad
file changes nothing and names the rule (1-based) that is wrong and why.
"""

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from acl.language import InvalidRule, RuleSpec, parse_policy
from clients.models import AclRule
from workspaces.cli import organization_by_id, workspace_by_name


class Command(BaseCommand):
    help = "Export or import a workspace's ACL default and rules as JSON."

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True, metavar="{export,import}")
        export = commands.add_parser("export", help="Print the workspace's default and rules as JSON.")
        importer = commands.add_parser("import", help="Replace the workspace's default and rules from FILE.")
        for sub in (export, importer):
            sub.add_argument("--org", required=True, help="The Organization ID (a UUID).")
            sub.add_argument("--workspace", required=True, help="The workspace's name (case-insensitive).")
        importer.add_argument("file", metavar="FILE", help="A JSON file, or - to read standard input.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["command"] == "export":
            workspace = workspace_by_name(organization_by_id(options["org"]), options["workspace"])
            self.stdout.write(
                json.dumps(AclRule.objects.export_policy(workspace), indent=2, ensure_ascii=False)
            )
            return
        # The file first: a bad one is reported the same whatever the database holds.
        default, specs = self._read(options["file"])
        workspace = workspace_by_name(organization_by_id(options["org"]), options["workspace"])
        try:
            AclRule.objects.replace_policy(workspace, default, specs)
        except InvalidRule as exc:  # what the running broker engine cannot enforce
            raise CommandError(f"{str(exc).rstrip('.')}. Nothing was changed.") from None
        noun = "rule" if len(specs) == 1 else "rules"
        self.stderr.write(f"Imported {len(specs)} {noun} into {workspace.name}; default: {default}.")

    def _read(self, path: str) -> tuple[str, list[RuleSpec]]:
        try:
            if path == "-":
                text = sys.stdin.read()
            else:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}. Nothing was changed.") from None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise CommandError(
                f"{path} is not valid JSON ({where}: {exc.msg}). Nothing was changed."
            ) from None
        try:
            return parse_policy(document)
        except ValueError as exc:  # InvalidRule too: it names the rule
            raise CommandError(f"{str(exc).rstrip('.')}. Nothing was changed.") from None
