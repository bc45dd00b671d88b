"""What the API takes and gives, typed: the OpenAPI description is generated from these."""

from datetime import datetime
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import StringConstraints

# Text a person or a script types: PostgreSQL text cannot hold NUL, so it is refused up front (422).
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]


class SessionsEndedOut(Schema):
    """What the broker said a change ended. `sessions_ended` is null when the broker was not reached:
    the change is committed and the broker enforces it when it next checks (within seconds).
    `broker_reachable` is null when the change needed no word with the broker (a new description, or
    no live session to disconnect)."""

    sessions_ended: int | None
    broker_reachable: bool | None


class WorkspaceRef(Schema):
    id: int
    name: str


class ClientOut(Schema):
    id: int
    username: str
    full_username: str = Field(description="What devices log in with: username@organization_id.")
    organization_id: str
    workspace: WorkspaceRef
    description: str
    enabled: bool
    created: datetime
    updated: datetime
    password_changed: datetime
    last_connected: datetime | None
    live_sessions: int = Field(description="Live MQTT sessions right now.")


class ClientPage(Schema):
    items: list[ClientOut]
    count: int
    page: int
    pages: int


class ClientCreateIn(Schema):
    username: Text = Field(examples=["agent-research-01"])
    workspace_id: int | None = Field(None, description="Default: the organization's default workspace.")
    description: Text = ""
    password: Text | None = Field(
        None, description="Your own password (at least 12 characters); default: a generated one."
    )


class ClientCreated(ClientOut):
    password: str = Field(description="The password, in this response only: it is stored as a hash.")


class ClientUpdateIn(Schema):
    """Only the fields given change. Renaming, moving, or disabling a client ends its live sessions."""

    username: Text | None = None
    workspace_id: int | None = None
    description: Text | None = None
    enabled: bool | None = None


class ClientChanged(ClientOut, SessionsEndedOut):
    pass


class PasswordResetIn(Schema):
    password: Text | None = Field(None, description="Your own password; default: a generated one.")


class PasswordReset(ClientOut, SessionsEndedOut):
    password: str = Field(description="The new password, in this response only.")


class Deleted(SessionsEndedOut):
    deleted: bool


class SessionOut(Schema):
    id: int
    client_id: int
    client_username: str
    mqtt_client_id: str = Field(description="The client id the device sent in CONNECT.")
    remote_address: str
    listener: Literal["mqtt", "mqtts", "ws"]
    connected_since: datetime


class SessionPage(Schema):
    items: list[SessionOut]
    count: int
    page: int
    pages: int


class WorkspaceOut(Schema):
    id: int
    name: str
    is_default: bool
    default_permission: Literal["allow", "deny"]
    clients: int
    created: datetime


class WorkspaceIn(Schema):
    name: Text = Field(examples=["staging"])


class WorkspaceDeleted(Deleted):
    clients_deleted: list[str]


class RuleIn(Schema):
    client: str = Field(description="A username, a prefix ending in *, or * for every client.")
    action: str = Field(description="publish, subscribe or all.")
    topic: str = Field(description="A topic filter; ${username} and ${clientid} stand for the client's own.")
    permission: str = Field(description="allow or deny.")


class PolicyIn(Schema):
    """The format of `manage.py acl export|import`: the workspace's default and its ordered rules."""

    model_config = {"extra": "forbid"}

    default: str = Field("allow", description="allow or deny: what applies when no rule does.")
    rules: list[RuleIn] = []


class PolicyOut(Schema):
    default: str
    rules: list[RuleIn]


class AccessCheckIn(Schema):
    username: Text = Field(description="Without the @organization part.", examples=["agent-research-01"])
    client_id: Text = Field("", description="The client id sent in CONNECT; default: the username.")
    action: Literal["publish", "subscribe"]
    topic: Text = Field(examples=["sensors/agent-research-01/temperature"])


class AccessDecision(Schema):
    allowed: bool
    reason: str = Field(description="The deciding rule, or the workspace default.")
    rule_id: int | None = Field(description="The deciding rule's id; null when the default decided.")


class AuditEntryOut(Schema):
    id: int
    created: datetime
    actor: str
    actor_kind: str
    source_address: str | None
    action: str
    target_type: str
    target_id: str
    target_name: str
    details: dict[str, object]


class AuditPage(Schema):
    items: list[AuditEntryOut]
    next_before: int | None = Field(
        description="Pass as `before` for the next (older) page; null at the end."
    )


class KeyOut(Schema):
    """The key making the request and its organization."""

    name: str
    prefix: str
    role: Literal["admin", "viewer"]
    expires: datetime | None
    organization_id: str
    organization_name: str
