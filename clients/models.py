import uuid
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any, Final

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models, transaction
from django.db.models import Count, F
from django.db.models.functions import Lower
from django.utils import timezone

from acl.language import (
    ACTION_CHOICES,
    ALL,
    ALLOW,
    DENY,
    PERMISSION_CHOICES,
    PERMISSIONS,
    USERNAME_MAX_LENGTH,
    USERNAME_PATTERN,
    InvalidRule,
    Policy,
    RuleSpec,
    compile_policy,
    compile_stored,
)
from clients import credentials, engine
from clients.engine import Credential, SessionsEnded
from workspaces import audit
from workspaces.models import Organization, Workspace

models.CharField.register_lookup(Lower)

USERNAME_HELP = (
    "Letters, digits and hyphens, up to 64 characters, starting and ending with a letter or digit. "
    "Lowercase with {type}-{identifier} naming reads best, as in agent-research-01."
)

validate_username = RegexValidator(
    USERNAME_PATTERN,
    message="Use only letters, digits and hyphens (no @, spaces or dots), starting and ending with a "
    "letter or digit, at most 64 characters.",
    code="invalid_username",
)


class MqttClientQuerySet(models.QuerySet["MqttClient"]):
    def in_org(self, organization: Organization) -> "MqttClientQuerySet":
        return self.filter(organization=organization)

    def by_username(self, organization_id: object, username: str) -> "MqttClientQuerySet":
        # Usernames are unique regardless of case, so a case-insensitive match is unambiguous; the
        # lookup uses the same Lower() expression as the unique index.
        return self.filter(organization_id=organization_id, username__lower=username.lower())


class MqttClient(models.Model):
    """One MQTT credential: `username@organization_id` and an argon2id hash of its password."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="mqtt_clients")
    # PROTECT: a workspace's clients leave through clients.provisioning.delete_workspace, which also
    # ends their live sessions; a bare cascade would not.
    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="mqtt_clients")
    username = models.CharField(max_length=USERNAME_MAX_LENGTH, validators=[validate_username])
    password_hash = models.CharField(max_length=200, editable=False)
    description = models.CharField(max_length=500, blank=True)
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    password_changed = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Bumped by every change that must end live sessions; the broker compares it with what a session
    # logged in with, so a lost hint is still caught by reconciliation.
    credential_version = models.PositiveIntegerField(default=1)
    last_connected = models.DateTimeField(null=True, blank=True)

    objects = MqttClientQuerySet.as_manager()

    class Meta:
        ordering = ["username"]
        constraints = [
            models.UniqueConstraint(Lower("username"), "organization", name="client_username_unique_in_org"),
            models.CheckConstraint(
                condition=models.Q(username__regex=USERNAME_PATTERN.pattern), name="client_username_format"
            ),
        ]
        indexes = [models.Index(fields=["organization", "workspace"])]

    def __str__(self) -> str:
        return self.full_username

    @property
    def full_username(self) -> str:
        return f"{self.username}@{self.organization_id}"

    @property
    def device_username(self) -> str:
        """What a device sends as its MQTT username: full_username, with the workspace before it
        where the engine needs it (RabbitMQ picks a vhost by it)."""
        return engine.current().device_username(self)

    def credential(self) -> Credential:
        return Credential(self.pk, self.organization_id, self.workspace_id, self.username)

    def clean(self) -> None:
        if (
            self.workspace_id
            and self.organization_id
            and self.workspace.organization_id != self.organization_id
        ):
            raise ValidationError({"workspace": "This workspace belongs to another organization."})
        # Only a well-formed name is looked up (a NUL byte would make PostgreSQL refuse the query).
        if self.username and self.organization_id and USERNAME_PATTERN.match(self.username):
            clash = MqttClient.objects.by_username(self.organization_id, self.username).exclude(pk=self.pk)
            if clash.exists():
                raise ValidationError(
                    {"username": "A client with this username already exists in this organization."}
                )

    # Verbs. Each one that changes what a live session may rely on bumps credential_version and
    # tells the broker after commit; the returned SessionsEnded fills in once the broker answers.

    def set_password(self, password: str) -> SessionsEnded:
        self.password_hash = credentials.hash_password(password)
        self.password_changed = timezone.now()
        with transaction.atomic():
            audit.record(self.organization_id, "client.password_reset", self)
            return self._save_revoking(["password_hash", "password_changed"])

    def check_password(self, password: str) -> bool:
        return credentials.verify_password(self.password_hash, password)

    def disable(self) -> SessionsEnded:
        return self._set_enabled(False)

    def enable(self) -> SessionsEnded:
        return self._set_enabled(True)

    def _set_enabled(self, enabled: bool) -> SessionsEnded:
        with transaction.atomic():
            audit.record(
                self.organization_id, "client.updated", self, details={"enabled": [self.enabled, enabled]}
            )
            self.enabled = enabled
            return self._save_revoking(["enabled"])

    def update(self, **changes: Any) -> SessionsEnded | None:
        """Apply several field changes at once; revoke when any of them is revoking."""
        revoking = {"username", "enabled", "workspace"} & {
            k for k, v in changes.items() if getattr(self, k) != v
        }
        before = {name: getattr(self, name) for name in changes}
        # The sessions to end logged in under the old name and workspace.
        was = self.credential()
        for name, value in changes.items():
            setattr(self, name, value)
        # The same checks as creation (format, uniqueness, workspace of this organization), so the
        # command line and the dashboard cannot differ. A refused change leaves the object as it was.
        try:
            self.full_clean(exclude=["password_hash"])
        except ValidationError:
            for name, value in before.items():
                setattr(self, name, value)
            raise
        fields = [*changes, "updated"]
        with transaction.atomic():
            audit.record(
                self.organization_id,
                "client.updated",
                self,
                details=audit.changes(_described(before), _described({n: getattr(self, n) for n in changes})),
            )
            if revoking:
                return self._save_revoking(fields, was)
            self.save(update_fields=fields)
            return None

    # Like the other verbs it answers what the broker ended, not Django's deletion counts (nothing
    # reads those); a client deleted any other way, even from the shell, still reaches the broker.
    def delete(self, *args: Any, **kwargs: Any) -> SessionsEnded:  # type: ignore[override]
        """Delete the credential and end its live sessions."""
        credential = self.credential()
        with transaction.atomic():
            _lock_against_new_sessions([self.pk])
            audit.record(
                self.organization_id, "client.deleted", self, details={"workspace": self.workspace.name}
            )
            super().delete(*args, **kwargs)
            return engine.credentials_changed([credential])

    def _save_revoking(self, fields: list[str], was: Credential | None = None) -> SessionsEnded:
        with transaction.atomic():
            if self.pk is None:
                self.save()
            else:
                self.save(update_fields=[*fields, "updated"])
                MqttClient.objects.filter(pk=self.pk).update(credential_version=F("credential_version") + 1)
                self.refresh_from_db(fields=["credential_version"])
            return engine.credentials_changed({self.credential(), was or self.credential()})


def _described(values: dict[str, Any]) -> dict[str, Any]:
    """Field values as the audit log shows them: a workspace by its name."""
    return {name: value.name if isinstance(value, Workspace) else value for name, value in values.items()}


def _lock_against_new_sessions(client_pks: list[int]) -> None:
    """Lock client rows about to be deleted, so the broker cannot add a LiveSession row for them
    between Django collecting the related rows and deleting the clients (on PostgreSQL that row
    would fail the admin's delete with a foreign key error; SQLite serialises writers anyway)."""
    list(MqttClient.objects.select_for_update().filter(pk__in=client_pks).values_list("pk", flat=True))


# Presence: written by the broker, read by the dashboard.

# A broker that has not beaten for this long is gone (crashed or killed): its sessions are not shown.
BROKER_HEARTBEAT_SECONDS = 2
BROKER_STALE_AFTER_SECONDS = 10


class BrokerNodeQuerySet(models.QuerySet["BrokerNode"]):
    def running(self) -> "BrokerNodeQuerySet":
        return self.filter(heartbeat__gte=timezone.now() - timedelta(seconds=BROKER_STALE_AFTER_SECONDS))


class BrokerNode(models.Model):
    """One running broker process. Its sessions count as live only while its heartbeat is fresh."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    started = models.DateTimeField(default=timezone.now)
    heartbeat = models.DateTimeField(default=timezone.now)
    pid = models.PositiveIntegerField(default=0)
    # Its control socket: every broker is told of a credential change (clients/hints.py), since each
    # keeps verified credentials in memory. A database default, so a broker of an older release still
    # starts beside this one (and then gets hints only through the configured socket).
    control_socket = models.CharField(max_length=1024, blank=True, default="", db_default="")

    objects = BrokerNodeQuerySet.as_manager()

    def __str__(self) -> str:
        return f"broker {self.pid} since {self.started:%Y-%m-%d %H:%M:%S}"


class LiveSessionQuerySet(models.QuerySet["LiveSession"]):
    def alive(self) -> "LiveSessionQuerySet":
        cutoff = timezone.now() - timedelta(seconds=BROKER_STALE_AFTER_SECONDS)
        return self.filter(node__heartbeat__gte=cutoff)

    def in_org(self, organization: Organization) -> "LiveSessionQuerySet":
        return self.filter(client__organization=organization)

    def count_by_client(self, clients: "Iterable[MqttClient]") -> dict[int, int]:
        """Sessions per client pk for these clients, in one query (clients with none are left out)."""
        return dict(
            self.filter(client__in=[c.pk for c in clients])
            .values_list("client")
            .annotate(n=Count("pk"))
            .values_list("client", "n")
        )


class LiveSession(models.Model):
    """An MQTT connection the broker holds right now for a credential."""

    class Listener(models.TextChoices):
        MQTT = "mqtt", "MQTT"
        MQTTS = "mqtts", "MQTT over TLS"
        WS = "ws", "WebSocket"

    node = models.ForeignKey(BrokerNode, on_delete=models.CASCADE, related_name="sessions")
    client = models.ForeignKey(MqttClient, on_delete=models.CASCADE, related_name="live_sessions")
    # The client id the device sent in CONNECT (not namespaced).
    mqtt_client_id = models.CharField(max_length=256)
    remote_address = models.CharField(max_length=100, blank=True)
    listener = models.CharField(max_length=10, choices=Listener.choices, default=Listener.MQTT)
    connected_since = models.DateTimeField(default=timezone.now)

    objects = LiveSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-connected_since"]
        constraints = [
            models.UniqueConstraint(
                fields=["node", "client", "mqtt_client_id"], name="one_row_per_live_session"
            )
        ]

    def __str__(self) -> str:
        return f"{self.mqtt_client_id} ({self.remote_address})"


# ACL rules: stored here, validated and compiled by acl.language. Every change locks the workspace
# row, so concurrent edits keep the positions dense and in order, validates before it writes (InvalidRule),
# and tells the broker to reload once the transaction commits.

# A workspace the database no longer has: nothing is allowed there.
_GONE: Final = compile_policy(DENY, ())


class AclRuleQuerySet(models.QuerySet["AclRule"]):
    def in_workspace(self, workspace: Workspace) -> "AclRuleQuerySet":
        return self.filter(workspace=workspace).order_by("position", "pk")

    def append(self, workspace: Workspace, spec: RuleSpec) -> "AclRule":
        """Add a validated rule at the end of the workspace's list."""
        _raise_if_invalid(spec)
        with transaction.atomic():
            _lock_workspace(workspace)
            position = self.filter(workspace=workspace).count()
            rule = self.create(workspace=workspace, position=position, **_fields(spec))
            _record(rule, "acl.rule_created", {**_fields(spec), "workspace": workspace.name})
            engine.rules_changed([workspace.pk], [spec.client])
        return rule

    def set_default(self, workspace: Workspace, permission: str) -> None:
        """What the workspace decides when no rule applies."""
        if permission not in PERMISSIONS:
            raise ValueError(f"default must be 'allow' or 'deny', not {permission!r}")
        with transaction.atomic():
            _lock_workspace(workspace)
            audit.record(
                workspace.organization_id,
                "workspace.default_permission_changed",
                workspace,
                details={"default": [workspace.default_permission, permission]},
            )
            workspace.default_permission = permission
            workspace.save(update_fields=["default_permission"])
            engine.rules_changed([workspace.pk])

    def replace_policy(self, workspace: Workspace, default: str, specs: Sequence[RuleSpec]) -> None:
        """Replace the default and every rule at once (policy as code). Validates everything first, so
        an invalid rule raises InvalidRule and changes nothing."""
        compile_policy(default, specs)  # raises before anything is written
        for number, spec in enumerate(specs, 1):
            _raise_if_invalid(spec, number)
        with transaction.atomic():
            _lock_workspace(workspace)
            self.filter(workspace=workspace).delete()
            self.bulk_create(
                self.model(workspace=workspace, position=position, **_fields(spec))
                for position, spec in enumerate(specs)
            )
            audit.record(
                workspace.organization_id,
                "acl.rules_imported",
                workspace,
                details={"default": [workspace.default_permission, default], "rules": len(specs)},
            )
            workspace.default_permission = default
            workspace.save(update_fields=["default_permission"])
            engine.rules_changed([workspace.pk])

    def naming(self, workspace: Workspace, username: str) -> "AclRuleQuerySet":
        """The rules naming exactly this username (not a prefix, not *): the ones to offer removing
        with the client."""
        return self.in_workspace(workspace).filter(client__iexact=username)

    def naming_missing_clients(self, workspace: Workspace) -> list["AclRule"]:
        """Rules naming one username that no client of the workspace has: left behind by a deleted
        client, or a typo."""
        known = {
            n.lower()
            for n in MqttClient.objects.filter(workspace=workspace).values_list("username", flat=True)
        }
        return [
            r for r in self.in_workspace(workspace) if "*" not in r.client and r.client.lower() not in known
        ]

    def remove_all(self, workspace: Workspace, rule_ids: Iterable[int]) -> int:
        """Delete these rules of the workspace at once, as AclRule.delete() does one: the rest close up
        in order and the broker reloads. Returns how many."""
        with transaction.atomic():
            _lock_workspace(workspace)
            doomed = self.filter(workspace=workspace, pk__in=list(rule_ids))
            who = set(doomed.values_list("client", flat=True))
            removed, _ = doomed.delete()
            _renumber(list(self.in_workspace(workspace)))
            engine.rules_changed([workspace.pk], who)
        return removed

    def export_policy(self, workspace: Workspace) -> dict[str, object]:
        """The workspace's default and rules in the policy-as-code format replace_policy() takes
        (after acl.language.parse_policy)."""
        workspace.refresh_from_db(fields=["default_permission"])
        return {
            "default": workspace.default_permission,
            "rules": [
                {"client": r.client, "action": r.action, "topic": r.topic, "permission": r.permission}
                for r in self.in_workspace(workspace)
            ],
        }

    def load_policies(self, workspace_ids: Iterable[int]) -> dict[int, Policy]:
        """The compiled policies of these workspaces, in two queries (synchronous ORM).

        Every requested id is in the result; a workspace that no longer exists gets a policy that denies
        everything.
        """
        ids = {int(i) for i in workspace_ids}
        if not ids:
            return {}
        defaults = dict(Workspace.objects.filter(pk__in=ids).values_list("pk", "default_permission"))
        specs: dict[int, list[RuleSpec]] = {pk: [] for pk in defaults}
        for rule in self.filter(workspace_id__in=defaults).order_by("workspace_id", "position", "pk"):
            specs[rule.workspace_id].append(rule.spec())
        policies = {pk: compile_stored(defaults[pk], specs[pk]) for pk in defaults}
        return {pk: policies.get(pk, _GONE) for pk in ids}


class AclRule(models.Model):
    """One line of a workspace's ordered ACL: who may (or may not) publish or subscribe where.

    `client` is a username, a username prefix ending in `*`, or `*`; it is text, not a foreign key,
    so a rule may name a client that does not exist yet (policy as code) and survives its deletion.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="acl_rules")
    position = models.PositiveIntegerField(default=0)
    client = models.CharField(max_length=USERNAME_MAX_LENGTH + 1, default="*")
    action = models.CharField(max_length=10, choices=ACTION_CHOICES, default=ALL)
    topic = models.TextField()
    permission = models.CharField(max_length=5, choices=PERMISSION_CHOICES, default=ALLOW)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = AclRuleQuerySet.as_manager()

    class Meta:
        ordering = ["workspace", "position", "pk"]
        indexes = [models.Index(fields=["workspace", "position"])]

    def __str__(self) -> str:
        return self.spec().describe()

    def spec(self) -> RuleSpec:
        return RuleSpec(
            client=self.client, action=self.action, topic=self.topic, permission=self.permission, id=self.pk
        )

    def applies_to(self, username: str) -> bool:
        """Whether the rule is about this client: *, its username, or a prefix of it (any case)."""
        who, name = self.client.lower(), username.lower()
        if who == "*":
            return True
        if who.endswith("*"):
            return name.startswith(who[:-1])
        return name == who

    def clean(self) -> None:
        problems = rule_problems(self.spec())
        if problems:
            raise ValidationError(problems)

    # Verbs. Each locks the workspace row and tells the broker after commit.

    def change(self, spec: RuleSpec) -> None:
        """Replace what the rule says, keeping its place in the list."""
        _raise_if_invalid(spec)
        with transaction.atomic():
            _lock_workspace(self.workspace)
            before = _fields(self.spec())
            for name, value in _fields(spec).items():
                setattr(self, name, value)
            _record(self, "acl.rule_changed", audit.changes(before, _fields(spec)))
            self.save(update_fields=["client", "action", "topic", "permission", "updated"])
            engine.rules_changed([self.workspace_id], [before["client"], spec.client])

    def move(self, offset: int) -> None:
        """Move the rule `offset` places (-1 up, +1 down), stopping at either end of the list."""
        with transaction.atomic():
            _lock_workspace(self.workspace)
            ordered = list(AclRule.objects.in_workspace(self.workspace))
            index = next((i for i, r in enumerate(ordered) if r.pk == self.pk), None)
            if index is None:
                return  # deleted meanwhile by someone else
            target = min(max(index + offset, 0), len(ordered) - 1)
            if target == index:
                return
            ordered.insert(target, ordered.pop(index))
            _renumber(ordered)
            _record(self, "acl.rule_moved", {"position": [index + 1, target + 1]})
            # Only the clients this rule is for can decide differently with it elsewhere.
            engine.rules_changed([self.workspace_id], [self.client])

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        """Delete the rule (however it is deleted, even from the shell); the ones below move up and
        the broker reloads the workspace's rules."""
        with transaction.atomic():
            _lock_workspace(self.workspace)
            _record(self, "acl.rule_deleted", _fields(self.spec()))
            deleted = super().delete(*args, **kwargs)
            _renumber(list(AclRule.objects.in_workspace(self.workspace)))
            engine.rules_changed([self.workspace_id], [self.client])
        return deleted


def _record(rule: AclRule, action: str, details: dict[str, Any]) -> None:
    audit.record(
        rule.workspace.organization_id, action, rule, details={**details, "workspace": rule.workspace.name}
    )


def _fields(spec: RuleSpec) -> dict[str, str]:
    return {"client": spec.client, "action": spec.action, "topic": spec.topic, "permission": spec.permission}


def rule_problems(spec: RuleSpec) -> dict[str, str]:
    """What is wrong with a rule: in the ACL language, or for the broker engine that runs."""
    return spec.problems() or engine.current().rule_problems(spec)


def _raise_if_invalid(spec: RuleSpec, index: int = 0) -> None:
    if problems := rule_problems(spec):
        raise InvalidRule(index, problems)


def _lock_workspace(workspace: Workspace) -> None:
    list(Workspace.objects.select_for_update().filter(pk=workspace.pk).values_list("pk"))


def _renumber(ordered: Sequence[AclRule]) -> None:
    for position, rule in enumerate(ordered):
        rule.position = position
    AclRule.objects.bulk_update(ordered, ["position"])


# What the broker keeps across restarts (cloudsignal/broker/persistence.py writes and reads these).
# Topics and client ids are as the device sees them, never workspace-prefixed.


class RetainedMessage(models.Model):
    """A retained MQTT message: the last one published with the retain flag on its topic. It goes with
    its workspace."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    topic = models.TextField()
    payload = models.BinaryField()
    qos = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "topic"], name="retained_message_one_per_topic")
        ]

    def __str__(self) -> str:
        return self.topic


class StoredSession(models.Model):
    """A persistent MQTT session (clean_session=0) as the broker last saved it: its subscriptions, the
    messages queued while the device was away, and the QoS 1/2 messages sent but not acknowledged.
    It goes with its credential; a credential reset since it was saved ends it (credential_version)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(MqttClient, on_delete=models.CASCADE, related_name="+")
    # The MQTT client id the device chose.
    device_client_id = models.TextField()
    credential_version = models.PositiveIntegerField()
    # [[filter, qos], ...]
    subscriptions = models.JSONField(default=list)
    # [[topic, payload (base64), qos], ...] in delivery order
    queued = models.JSONField(default=list)
    # [[packet_id, topic, payload (base64), qos, released], ...]; released: PUBREL sent (QoS 2)
    inflight = models.JSONField(default=list)
    saved_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "device_client_id"], name="stored_session_one_per_client_id"
            )
        ]

    def __str__(self) -> str:
        return self.device_client_id


# Connection history: written by the broker (cloudsignal/broker/history.py), read by the client's page.


class ConnectionRecordQuerySet(models.QuerySet["ConnectionRecord"]):
    def older_than(self, days: int) -> "ConnectionRecordQuerySet":
        return self.filter(connected_at__lt=timezone.now() - timedelta(days=days))


class ConnectionRecord(models.Model):
    """One connection of a credential that has ended (or a login refused for a known credential),
    and why it ended. Kept for CLOUDSIGNAL_CONNECTION_HISTORY_DAYS."""

    class EndReason(models.TextChoices):
        DISCONNECTED = "disconnected", "Normal disconnect"
        CONNECTION_LOST = "connection-lost", "Connection lost"
        KEEPALIVE = "keepalive", "Keep-alive timeout"
        TAKEN_OVER = "taken-over", "Taken over by a newer connection"
        DELETED = "deleted", "Client deleted"
        DISABLED = "disabled", "Client disabled"
        PASSWORD_RESET = "password-reset", "Password reset"
        RENAMED = "renamed", "Client renamed"
        MOVED = "moved", "Moved to another workspace"
        ADMIN = "admin", "Disconnected by an admin"
        ACL_CHANGE = "acl-change", "ACL change"
        PROTOCOL = "protocol", "Protocol violation"
        SHUTDOWN = "shutdown", "Server shutdown"
        THROTTLED = "throttled", "Throttled"
        TOO_SLOW = "too-slow", "Too slow"
        CLIENT_ID_IN_USE = "client-id-in-use", "Client id in use by another client"

    client = models.ForeignKey(MqttClient, on_delete=models.CASCADE, related_name="connection_records")
    # False for a login refused before CONNACK 0 (disabled, throttled, client id in use).
    accepted = models.BooleanField(default=True)
    connected_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(default=timezone.now)
    remote_address = models.CharField(max_length=100, blank=True)
    listener = models.CharField(max_length=10, choices=LiveSession.Listener.choices, default="mqtt")
    # The client id the device sent (not namespaced), cut to its first 256 characters.
    mqtt_client_id = models.CharField(max_length=256, blank=True)
    bytes_in = models.PositiveBigIntegerField(default=0)
    bytes_out = models.PositiveBigIntegerField(default=0)
    messages_in = models.PositiveBigIntegerField(default=0)
    messages_out = models.PositiveBigIntegerField(default=0)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices)
    # What exactly, where a reason needs it (which protocol violation).
    detail = models.CharField(max_length=200, blank=True)

    objects = ConnectionRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-connected_at", "-pk"]
        indexes = [
            models.Index(fields=["client", "-connected_at"], name="connection_record_client"),
            models.Index(fields=["connected_at"], name="connection_record_age"),
        ]

    def __str__(self) -> str:
        return f"{self.mqtt_client_id} {self.connected_at:%Y-%m-%d %H:%M:%S} ({self.end_reason})"

    @property
    def duration(self) -> timedelta:
        return self.ended_at - self.connected_at
