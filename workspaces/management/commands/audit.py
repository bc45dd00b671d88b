"""`manage.py audit list --org ORG_ID [--since ...] [--json]` and `manage.py audit prune`."""

import json
from argparse import ArgumentParser
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime, parse_duration

from workspaces import audit
from workspaces.cli import organization_by_id
from workspaces.models import AuditEntry


def since(value: str) -> datetime:
    """An ISO date or time ("2026-11-01", "2026-11-01T12:00Z"), or an age ("7d", "12h", "30m")."""
    value = value.strip()
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if value[-1:] in units and value[:-1].isdigit():
        return timezone.now() - timedelta(**{units[value[-1]]: int(value[:-1])})
    moment = parse_datetime(value) or parse_datetime(value + "T00:00:00")
    if moment is None and (age := parse_duration(value)) is not None:
        return timezone.now() - age
    if moment is None:
        raise CommandError(f"--since takes a date (2026-11-01), a time or an age (7d, 12h), not {value!r}.")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def as_dict(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "time": entry.created.isoformat(),
        "actor": entry.actor,
        "actor_kind": entry.actor_kind,
        "source_address": entry.source_address,
        "action": entry.action,
        "target": {"type": entry.target_type, "id": entry.target_id, "name": entry.target_name},
        "details": entry.details,
    }


class Command(BaseCommand):
    help = "List an organization's audit entries, or prune those older than the retention."

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True, metavar="{list,prune}")
        listing = commands.add_parser("list", help="Entries newest first.")
        listing.add_argument("--org", required=True, metavar="ORG_ID")
        listing.add_argument("--since", type=since, help="Only entries from then on: 2026-11-01 or 7d.")
        listing.add_argument("--action", help="Only this action, such as client.created.")
        listing.add_argument("--limit", type=int, default=1000)
        listing.add_argument("--json", action="store_true", help="Print JSON.")
        commands.add_parser("prune", help="Delete entries older than CLOUDSIGNAL_AUDIT_RETENTION_DAYS.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["command"] == "prune":
            deleted = audit.prune()
            self.stdout.write(f"Deleted {deleted} audit entries older than {audit.retention().days} days.")
            return
        entries = AuditEntry.objects.in_org(organization_by_id(options["org"]))
        if options["since"]:
            entries = entries.filter(created__gte=options["since"])
        if options["action"]:
            entries = entries.filter(action=options["action"])
        rows = [as_dict(e) for e in entries.order_by("-id")[: options["limit"]]]
        if options["json"]:
            self.stdout.write(json.dumps(rows))
            return
        for row in rows:
            target = f"{row['target']['type']} {row['target']['name']}".strip()
            self.stdout.write(f"{row['time'][:19]}  {row['actor']:28} {row['action']:28} {target}")
