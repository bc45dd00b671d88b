"""Workflows over several models: the dashboard and the command line share these, line for line."""

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from clients import credentials, engine
from clients.engine import SessionsEnded
from clients.models import AclRule, MqttClient
from workspaces import audit
from workspaces.models import Organization, Workspace


@transaction.atomic
def create_client(
    *,
    organization: Organization,
    username: str,
    workspace: Workspace | None = None,
    password: str | None = None,
    description: str = "",
    created_by: User | None = None,
) -> tuple[MqttClient, str]:
    """A new credential and its plaintext password, which the caller shows once and forgets.

    Raises ValidationError (nothing written) for a bad or duplicate username, a workspace of another
    organization, or a password an admin chose that is too weak.
    """
    if password is None:
        password = credentials.generate_password()
    elif problem := credentials.password_problem(password):
        raise ValidationError({"password": problem})
    client = MqttClient(
        organization=organization,
        workspace=workspace or organization.default_workspace,
        username=username.strip(),
        description=description,
        created_by=created_by,
    )
    client.full_clean(exclude=["password_hash"])
    client.password_hash = credentials.hash_password(password)
    client.save()
    audit.record(
        organization,
        "client.created",
        client,
        details={"workspace": client.workspace.name, "description": description},
    )
    return client, password


def reset_password(client: MqttClient, password: str | None = None) -> tuple[str, SessionsEnded]:
    """A new password for `client` (generated unless given); its live sessions end."""
    if password is None:
        password = credentials.generate_password()
    elif problem := credentials.password_problem(password):
        raise ValidationError({"password": problem})
    ended = client.set_password(password)
    return password, ended


def delete_client(client: MqttClient, *, remove_rules: bool = False) -> tuple[SessionsEnded, int]:
    """Delete a client, ending its live sessions; with `remove_rules`, also the ACL rules of its
    workspace that name it exactly (a prefix or * rule stays). Returns what ended and how many rules went."""
    with transaction.atomic():
        rule_ids = list(
            AclRule.objects.naming(client.workspace, client.username).values_list("pk", flat=True)
        )
        ended = client.delete()
        removed = AclRule.objects.remove_all(client.workspace, rule_ids) if remove_rules and rule_ids else 0
    return ended, removed


@transaction.atomic
def delete_workspace(workspace: Workspace) -> SessionsEnded:
    """Delete a workspace and every client in it, ending their live sessions."""
    # Locked: see MqttClient.delete(); the broker must not add sessions to rows we are deleting.
    doomed = [c.credential() for c in workspace.mqtt_clients.select_for_update().order_by("username")]
    usernames = [c.username for c in doomed]
    audit.record(
        workspace.organization_id, "workspace.deleted", workspace, details={"clients_deleted": usernames}
    )
    workspace.mqtt_clients.all().delete()
    workspace.delete()
    return engine.credentials_changed(doomed)
