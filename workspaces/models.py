import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

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
        # By name regardless of case ("alpha" before "Beta"), the default first.
        return self.filter(organization=organization).order_by("-is_default", Lower("name"))


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
