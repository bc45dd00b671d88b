"""A realistic organization for the browser tests, built in a second or two: 64-character usernames
and workspace names, 10,000 clients, 50 live sessions, 30 ACL rules (some naming clients that no
longer exist). One password hash for every client: 10,000 argon2 hashes would take minutes."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from acl.language import USERNAME_MAX_LENGTH
from clients import credentials
from clients.models import AclRule, BrokerNode, LiveSession, MqttClient
from workspaces.models import Organization, Workspace
from workspaces.onboarding import create_organization, find_or_create_user

CLIENTS = 10_000
SESSIONS = 50
RULES = 30


def long_name(prefix: str, length: int = USERNAME_MAX_LENGTH) -> str:
    """`prefix` padded with hyphenated words to exactly `length` characters, ending in a letter."""
    name = (prefix + "-telemetry-gateway-building-north-floor-assembly-line-station" * 3)[:length]
    return name.rstrip("-").ljust(length, "x")


@dataclass
class Realistic:
    owner: User
    organization: Organization
    workspace: Workspace  # 64-character name, holding the long client
    client: MqttClient  # 64-character username, with all the live sessions and many rules


def build(clients: int = CLIENTS) -> Realistic:
    """The organization; fewer clients for tests about one flow rather than the layout."""
    owner = find_or_create_user("owner@realistic.example")
    organization = create_organization(owner=owner, name=long_name("Acme Robotics International", 100))
    workspaces = [organization.default_workspace] + [
        Workspace.objects.create(organization=organization, name=long_name(f"{stage}-environment"))
        for stage in ("production", "staging", "Development")
    ]
    insert_clients(organization, workspaces, clients)
    workspace = workspaces[1]
    client = MqttClient.objects.filter(workspace=workspace).order_by("username").first()
    assert client is not None
    # A broker whose heartbeat stays fresh for the whole test.
    node = BrokerNode.objects.create(pid=1, heartbeat=timezone.now() + timedelta(hours=1))
    LiveSession.objects.bulk_create(
        LiveSession(
            node=node,
            client=client,
            mqtt_client_id=long_name(f"session-{n:02d}", 120),
            remote_address=f"[2001:db8:85a3::8a2e:370:{n:04x}]:{50000 + n}",
            listener=LiveSession.Listener.MQTTS,
        )
        for n in range(SESSIONS)
    )
    AclRule.objects.bulk_create(
        AclRule(
            workspace=workspace,
            position=n,
            client=[client.username, "*", "agent-0*", long_name("gone-client")][n % 4],
            action=["all", "publish", "subscribe"][n % 3],
            topic=f"sensors/private-building-{n:02d}/floor-north/assembly-line/${{clientid}}/telemetry/#",
            permission="allow" if n % 2 else "deny",
        )
        for n in range(RULES)
    )
    return Realistic(owner, organization, workspace, client)


def insert_clients(organization: Organization, workspaces: list[Workspace], count: int) -> None:
    """`count` clients in one executemany: building 10,000 model instances for bulk_create costs
    seconds of CPU on a shared machine, and this is set-up, not the code under test."""
    fields = [
        "organization",
        "workspace",
        "username",
        "password_hash",
        "description",
        "enabled",
        "created",
        "updated",
        "password_changed",
        "credential_version",
        "last_connected",
    ]
    meta = MqttClient._meta
    columns = [str(meta.get_field(name).column) for name in fields]  # type: ignore[union-attr]

    def prep(name: str, value: object) -> object:
        field: Any = meta.get_field(name)
        if field.is_relation:
            field = field.target_field
        return field.get_db_prep_save(value, connection)

    now = timezone.now()
    org = prep("organization", organization.pk)
    password_hash = credentials.hash_password(credentials.generate_password())  # one hash for all
    moment = prep("created", now)
    seen = [prep("last_connected", now - timedelta(minutes=m)) for m in range(90)]
    rows: list[Any] = [
        (
            org,
            workspaces[i % len(workspaces)].pk,
            long_name(f"agent-{i:05d}"),
            password_hash,
            "Line sensor on the north floor, reporting every second",
            i % 7 != 0,
            moment,
            moment,
            moment,
            1,
            seen[i % 90] if i % 3 else None,
        )
        for i in range(count)
    ]
    table = connection.ops.quote_name(str(meta.db_table))
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: psycopg would spend seconds parsing one huge INSERT, or round-tripping many.
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for one in rows:
                    copy.write_row(one)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608 (names only)
