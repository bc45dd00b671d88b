"""`manage.py members list|invite|remove|role --org ORG_ID`: the Members page from the command line.

The command line acts with every right (it runs as whoever holds the server), and its audit entries
name the OS user.
"""

import json
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from workspaces import invitations, members
from workspaces.cli import organization_by_id
from workspaces.models import Membership, Organization


def member_by_email(organization: Organization, email: str) -> Membership:
    membership = (
        Membership.objects.filter(organization=organization, user__email__iexact=email.strip())
        .select_related("user", "organization")
        .first()
    )
    if membership is None:
        raise CommandError(f"{email} is not a member. List them with: manage.py members list --org ORG_ID")
    return membership


class Command(BaseCommand):
    help = "List, invite, remove members or change their role."

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True, metavar="{list,invite,remove,role}")
        listing = commands.add_parser("list", help="List members with role, joined and last sign-in.")
        invite = commands.add_parser("invite", help="Invite someone; prints the invitation link once.")
        invite.add_argument("email", metavar="EMAIL")
        invite.add_argument("--role", choices=Membership.Role.values, default=Membership.Role.VIEWER)
        remove = commands.add_parser("remove", help="Remove a member; their dashboard sessions end.")
        remove.add_argument("email", metavar="EMAIL")
        role = commands.add_parser("role", help="Change a member's role.")
        role.add_argument("email", metavar="EMAIL")
        role.add_argument("role", choices=Membership.Role.values)
        for sub in (listing, invite, remove, role):
            sub.add_argument("--org", required=True, metavar="ORG_ID", help="The Organization ID.")
            sub.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = organization_by_id(options["org"])
        as_json = options["json"]
        try:
            if options["command"] == "list":
                self.list(organization, as_json)
            elif options["command"] == "invite":
                self.invite(organization, options["email"], options["role"], as_json)
            elif options["command"] == "remove":
                membership = member_by_email(organization, options["email"])
                ended = members.remove(membership)
                self.say(
                    as_json,
                    {"removed": membership.user.email, "sessions_ended": ended},
                    f"Removed {membership.user.email}; {ended} dashboard session(s) ended.",
                )
            else:
                membership = members.change_role(
                    member_by_email(organization, options["email"]), options["role"]
                )
                self.say(
                    as_json,
                    {"email": membership.user.email, "role": membership.role},
                    f"{membership.user.email} is now {membership.role}.",
                )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None

    def say(self, as_json: bool, payload: dict[str, Any], text: str) -> None:
        self.stdout.write(json.dumps(payload) if as_json else text)

    def list(self, organization: Organization, as_json: bool) -> None:
        rows: list[dict[str, Any]] = [
            {
                "email": m.user.email,
                "role": m.role,
                "joined": m.created.isoformat(),
                "last_sign_in": m.user.last_login.isoformat() if m.user.last_login else None,
            }
            for m in Membership.objects.filter(organization=organization)
            .select_related("user")
            .order_by("user__email")
        ]
        if as_json:
            self.stdout.write(json.dumps(rows))
            return
        for row in rows:
            self.stdout.write(
                f"{row['email']:40} {row['role']:7} joined {row['joined'][:10]}"
                f"  last sign-in {(row['last_sign_in'] or 'never')[:16]}"
            )

    def invite(self, organization: Organization, email: str, role: str, as_json: bool) -> None:
        invitation, token = invitations.invite(organization=organization, email=email, role=role)
        link = settings.DASHBOARD_URL + invitations.link_path(token)
        invitations.send(invitation, link)
        self.say(
            as_json,
            {
                "email": invitation.email,
                "role": role,
                "link": link,
                "expires": invitation.expires.isoformat(),
            },
            f"Invitation for {invitation.email} ({role}); this link is shown once, works once and expires "
            f"{invitation.expires:%Y-%m-%d %H:%M}:\n{link}",
        )
