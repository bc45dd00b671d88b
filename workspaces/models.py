import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from acl.language import ALLOW, PERMISSION_CHOICES


class Organization(models.Model):
    # The UUID is the Organization ID users see and type after the `@` of every MQTT username.
    id = models.UUIDField(
        primary_key=True, default=uuid.uuid4, editable=False, verbose_name="Organization ID"
    )
    name = models.CharField(max_length=100)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def default_workspace(self) -> "Workspace":
        return self.workspaces.get(is_default=True)


class MembershipQuerySet(models.QuerySet["Membership"]):
    def for_user(self, user: object) -> "MembershipQuerySet":
        return self.filter(user=user).select_related("organization")


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="one_membership_per_org")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"

    @property
    def can_change(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.ADMIN)

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER


class WorkspaceQuerySet(models.QuerySet["Workspace"]):
    def in_org(self, organization: Organization) -> "WorkspaceQuerySet":
        return self.filter(organization=organization)


class Workspace(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="workspaces")
    name = models.CharField(max_length=64)
    is_default = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    # What the ACL decides when none of the workspace's rules applies (acl.language). New workspaces
    # allow, so a first connection just works.
    default_permission = models.CharField(max_length=5, choices=PERMISSION_CHOICES, default=ALLOW)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-is_default", "name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "organization", name="workspace_name_unique_in_org"),
            # At most one default per organization here; "at least one" holds because the default is
            # made with its organization and delete() refuses it.
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(is_default=True),
                name="one_default_workspace_per_org",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        if self.is_default:
            raise DefaultWorkspaceError("The default workspace cannot be deleted.")
        return super().delete(*args, **kwargs)  # type: ignore[arg-type]


class DefaultWorkspaceError(Exception):
    """Raised on an attempt to delete an organization's default workspace."""


class Setup(models.Model):
    """The one row first-run setup writes. Its fixed primary key is the lock: of any number of
    concurrent setups, exactly one can insert it, and the others fail with IntegrityError."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    completed = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="setup_happens_once")]

    def __str__(self) -> str:
        return f"Set up {self.completed:%Y-%m-%d %H:%M}"


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def pending(self) -> "InvitationQuerySet":
        return self.filter(accepted=None, revoked=None, expires__gt=timezone.now())


class Invitation(models.Model):
    """An invitation to join an organization. Only a hash of its token is kept: the link is shown once."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    accepted = models.DateTimeField(null=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    revoked = models.DateTimeField(null=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.email} to {self.organization} ({self.role})"

    @property
    def state(self) -> str:
        if self.accepted:
            return "accepted"
        if self.revoked:
            return "revoked"
        if self.expires <= timezone.now():
            return "expired"
        return "pending"


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def in_org(self, organization: Organization) -> "AuditEntryQuerySet":
        return self.filter(organization=organization)


class AuditEntry(models.Model):
    """One thing that happened in an organization: who, from where, what, to which object, how.

    Written in the same transaction as the change it describes (workspaces.audit.record). Never holds
    a secret: no password, token or invitation link goes into `details`.
    """

    class ActorKind(models.TextChoices):
        MEMBER = "member", "Member"
        COMMAND_LINE = "cli", "Command line"
        SYSTEM = "system", "System"
        API_KEY = "apikey", "API key"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="audit_entries")
    created = models.DateTimeField(auto_now_add=True)
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # The actor as they were named then: an email, "cli:alice" or "system".
    actor = models.CharField(max_length=254)
    source_address = models.GenericIPAddressField(null=True)
    action = models.CharField(max_length=40)
    target_type = models.CharField(max_length=30, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_name = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        # Pages are read newest first by id (keyset), so each index ends with it.
        indexes = [
            models.Index(fields=["organization", "-id"], name="audit_org_id"),
            models.Index(fields=["organization", "action", "-id"], name="audit_org_action_id"),
            models.Index(fields=["organization", "actor", "-id"], name="audit_org_actor_id"),
            models.Index(
                fields=["organization", "target_type", "target_id", "-id"], name="audit_org_target_id"
            ),
            models.Index(fields=["organization", "target_name", "-id"], name="audit_org_target_name_id"),
            models.Index(fields=["created"], name="audit_created"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.created:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target_type} {self.target_name}"
        )


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def in_org(self, organization: Organization) -> "ApiKeyQuerySet":
        return self.filter(organization=organization)

    def usable(self) -> "ApiKeyQuerySet":
        return self.filter(revoked=None).filter(models.Q(expires=None) | models.Q(expires__gt=timezone.now()))


class ApiKey(models.Model):
    """A key for the REST API, acting in one organization with a role. Only the SHA-256 of the key is
    stored (a random 256-bit key needs no slow hash), and a short prefix to recognise it by; the key
    itself is shown once (workspaces.apikeys)."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        VIEWER = "viewer", "Viewer"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16)
    created = models.DateTimeField(auto_now_add=True)
    # The member who made it; None for the command line.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_by_label = models.CharField(max_length=254, blank=True)
    expires = models.DateTimeField(null=True, blank=True)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def can_change(self) -> bool:
        return self.role == self.Role.ADMIN

    @property
    def state(self) -> str:
        if self.revoked:
            return "revoked"
        if self.expires is not None and self.expires <= timezone.now():
            return "expired"
        return "active"
